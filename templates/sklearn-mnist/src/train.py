"""Logistic regression on MNIST (the Azure ML tutorial): log metrics, save outputs/sklearn_mnist_model.pkl."""

import argparse
import os
import time

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.multiclass import OneVsRestClassifier

from trainers import Run
from trainers.datasets import load_mnist, take_subset


def load(folder, max_train_samples, seed):
    x_train, y_train, x_test, y_test = load_mnist(folder, download_if_empty=True)
    x_train, y_train = take_subset(x_train, y_train, max_train_samples, seed)
    # 784 pixel features scaled to [0, 1], as the tutorial does
    return (x_train.reshape(len(x_train), -1) / 255.0, y_train.astype(int),
            x_test.reshape(len(x_test), -1) / 255.0, y_test.astype(int))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-folder", required=True, help="Folder with the four MNIST idx(.gz) files")
    parser.add_argument("--regularization", type=float, default=0.5, help="Regularization rate (C = 1/rate)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-samples", type=int, default=0, help="Train on a random subset (0 = all)")
    args = parser.parse_args()

    run = Run.get_context()
    x_train, y_train, x_test, y_test = load(args.data_folder, args.max_train_samples, args.seed)
    print(f"train {x_train.shape}, test {x_test.shape}", flush=True)
    run.log("regularization rate", float(args.regularization))
    run.log("train samples", len(x_train))

    # One-vs-rest liblinear: the published model (scikit-learn >= 1.8 dropped multiclass liblinear).
    clf = OneVsRestClassifier(LogisticRegression(C=1.0 / args.regularization, solver="liblinear",
                                                 random_state=args.seed), n_jobs=-1)
    started = time.time()
    clf.fit(x_train, y_train)
    run.log("training seconds", round(time.time() - started, 2))

    predictions = clf.predict(x_test)
    accuracy = float(np.mean(predictions == y_test))
    print(f"accuracy on the {len(y_test)} test images: {accuracy:.4f}", flush=True)
    run.log("accuracy", accuracy)
    run.log_confusion_matrix("confusion matrix", confusion_matrix(y_test, predictions), list(range(10)))

    os.makedirs("outputs", exist_ok=True)
    joblib.dump(clf, "outputs/sklearn_mnist_model.pkl")


if __name__ == "__main__":
    main()
