# The Azure ML v1 sample's Iris SVM training script, unchanged apart from this comment.
import argparse
import os

import joblib
from azureml.core.run import Run
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

run = Run.get_context()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernel", type=str, default="linear", help="Kernel type to be used in the algorithm")
    parser.add_argument("--penalty", type=float, default=1.0, help="Penalty parameter of the error term")
    args = parser.parse_args()
    run.log("Kernel type", str(args.kernel))
    run.log("Penalty", float(args.penalty))

    iris = datasets.load_iris()
    x_train, x_test, y_train, y_test = train_test_split(iris.data, iris.target, random_state=0)
    svm_model_linear = SVC(kernel=args.kernel, C=args.penalty).fit(x_train, y_train)
    accuracy = svm_model_linear.score(x_test, y_test)
    print("Accuracy of SVM classifier on test set: {:.2f}".format(accuracy))
    run.log("Accuracy", float(accuracy))

    os.makedirs("outputs", exist_ok=True)
    joblib.dump(svm_model_linear, "outputs/model.joblib")


if __name__ == "__main__":
    main()
