"""Train an SVM on iris (the Azure ML sample), log metrics, save outputs/model.joblib."""

import argparse
import os

import joblib
from sklearn import datasets
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from trainers import Run
from trainers.datasets import take_subset


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kernel", type=str, default="linear", help="Kernel type for the SVM")
    parser.add_argument("--penalty", type=float, default=1.0, help="Penalty parameter C")
    parser.add_argument("--seed", type=int, default=0, help="Seed for the train/test split")
    parser.add_argument("--max-train-samples", type=int, default=0, help="Train on a random subset (0 = all)")
    args = parser.parse_args()

    run = Run.get_context()
    iris = datasets.load_iris()
    x_train, x_test, y_train, y_test = train_test_split(iris.data, iris.target, random_state=args.seed)
    x_train, y_train = take_subset(x_train, y_train, args.max_train_samples, args.seed)

    run.log("Kernel type", str(args.kernel))
    run.log("Penalty", float(args.penalty))
    run.log("train samples", len(x_train))

    model = SVC(kernel=args.kernel, C=args.penalty).fit(x_train, y_train)
    predictions = model.predict(x_test)
    accuracy = float(model.score(x_test, y_test))
    print(f"Accuracy of SVM classifier on test set: {accuracy:.4f}")
    run.log("Accuracy", accuracy)

    run.log_confusion_matrix("Confusion matrix", confusion_matrix(y_test, predictions), list(iris.target_names))

    os.makedirs("outputs", exist_ok=True)
    joblib.dump(model, "outputs/model.joblib")


if __name__ == "__main__":
    main()
