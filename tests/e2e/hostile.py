"""A job that records the argv it received, and hostile input values for it (local and pool tests)."""

from __future__ import annotations

import json

ARGV_SCRIPT = "import json, sys\nopen('outputs/argv.json', 'w').write(json.dumps(sys.argv[1:]))\n"
PLACEMENTS = ["--a ${{inputs.a}}", '--b "${{inputs.b}}"', "--c '${{inputs.c}}'", "--d=${{inputs.d}}",
              '"e:${{inputs.e}}"']
VALUES = {"a": "$(touch {mark})", "b": 'x" ; touch {mark} ; echo "y', "c": "x' ; touch {mark} ; echo 'y",
          "d": "`touch {mark}`", "e": "a b"}


def make_argv_project(root, mark) -> tuple:
    """job.yml whose command places each input differently; returns (job path, --set args, expected argv)."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "argv.py").write_text("import os\nos.makedirs('outputs', exist_ok=True)\n" + ARGV_SCRIPT)
    inputs = "".join(f"  {k}: placeholder\n" for k in VALUES)
    job = root / "job.yml"
    job.write_text(f"code: src\ncommand: python argv.py {' '.join(PLACEMENTS)}\ninputs:\n{inputs}")
    values = {k: v.format(mark=mark) for k, v in VALUES.items()}
    sets = [arg for k, v in values.items() for arg in ("--set", f"inputs.{k}={v}")]
    expected = ["--a", values["a"], "--b", values["b"], "--c", values["c"], f"--d={values['d']}",
                f"e:{values['e']}"]
    return job, sets, expected


def received_argv(details: dict, ws_root) -> list[str]:
    from trainyard import Run, Workspace

    run = Run(Workspace.load(), details["runId"])
    return json.loads((run.run_dir / "outputs" / "argv.json").read_text())
