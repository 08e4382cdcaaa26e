# The v1 tutorial's MNIST training script (logistic regression), with a --train-samples budget for tests.
import argparse
import glob
import os

import joblib
import numpy as np
from azureml.core import Run
from sklearn.linear_model import LogisticRegression
from utils import load_data

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", type=str, dest="data_folder", help="data folder mounting point")
parser.add_argument("--regularization", type=float, dest="reg", default=0.01, help="regularization rate")
parser.add_argument("--train-samples", type=int, default=0, help="train on the first N images (0 = all)")
args = parser.parse_args()

data_folder = args.data_folder
print("Data folder:", data_folder)
n = args.train_samples or None
X_train = load_data(glob.glob(os.path.join(data_folder, "**/train-images-idx3-ubyte.gz"), recursive=True)[0])[:n] / 255.0
X_test = load_data(glob.glob(os.path.join(data_folder, "**/t10k-images-idx3-ubyte.gz"), recursive=True)[0]) / 255.0
y_train = load_data(glob.glob(os.path.join(data_folder, "**/train-labels-idx1-ubyte.gz"), recursive=True)[0], True).reshape(-1)[:n]
y_test = load_data(glob.glob(os.path.join(data_folder, "**/t10k-labels-idx1-ubyte.gz"), recursive=True)[0], True).reshape(-1)
print(X_train.shape, y_train.shape, X_test.shape, y_test.shape, sep="\n")

run = Run.get_context()
print("Train a logistic regression model with regularization rate of", args.reg)
clf = LogisticRegression(C=1.0 / args.reg, max_iter=200, random_state=42)
clf.fit(X_train, y_train)
y_hat = clf.predict(X_test)
acc = np.average(y_hat == y_test)
print("Accuracy is", acc)
run.log("regularization rate", float(args.reg))
run.log("accuracy", float(acc))
run.log("input is the named dataset", run.input_datasets["mnist"] == data_folder)

os.makedirs("outputs", exist_ok=True)
joblib.dump(value=clf, filename="outputs/sklearn_mnist_model.pkl")
