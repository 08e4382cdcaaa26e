"""Keras MLP on MNIST (the Azure ML sample): per-epoch metrics, final test metrics, outputs/model."""

import argparse
import os

import numpy as np

from trainers import Run
from trainers.datasets import load_mnist, take_subset


def load(folder, max_train_samples, seed):
    x_train, y_train, x_test, y_test = load_mnist(folder, download_if_empty=True)
    x_train, y_train = take_subset(x_train, y_train, max_train_samples, seed)
    flat = lambda x: x.reshape(len(x), -1).astype("float32") / 255.0  # noqa: E731
    return flat(x_train), y_train.astype(int), flat(x_test), y_test.astype(int)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-folder", required=True)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--first-layer-neurons", type=int, default=300)
    parser.add_argument("--second-layer-neurons", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-samples", type=int, default=0, help="Train on a random subset (0 = all)")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    gpus = tf.config.list_physical_devices("GPU")
    print(f"TensorFlow {tf.__version__}; training on {'GPU ' + str(len(gpus)) if gpus else 'CPU'}", flush=True)

    run = Run.get_context()
    x_train, y_train, x_test, y_test = load(args.data_folder, args.max_train_samples, args.seed)
    y_train_hot, y_test_hot = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_test, 10)

    model = keras.Sequential([
        keras.Input(shape=(784,)),
        keras.layers.Dense(args.first_layer_neurons, activation="relu"),
        keras.layers.Dense(args.second_layer_neurons, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(args.learning_rate),
                  metrics=["accuracy"])

    class LogRunMetrics(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            run.log("Loss", float(logs["val_loss"]), step=epoch)
            run.log("Accuracy", float(logs["val_accuracy"]), step=epoch)

    history = model.fit(x_train, y_train_hot, batch_size=args.batch_size, epochs=args.epochs, verbose=2,
                        validation_data=(x_test, y_test_hot), callbacks=[LogRunMetrics()])
    loss, accuracy = model.evaluate(x_test, y_test_hot, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}", flush=True)
    run.log("Final test loss", float(loss))
    run.log("Final test accuracy", float(accuracy))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_title(f"MNIST MLP ({args.epochs} epochs)")
    ax.plot(history.history["val_accuracy"], "b-", label="Accuracy", lw=3)
    ax.plot(history.history["val_loss"], "r--", label="Loss", lw=3)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=10)
    run.log_image("Accuracy vs Loss", plot=fig)
    predictions = np.argmax(model.predict(x_test, verbose=0), axis=1)
    matrix = tf.math.confusion_matrix(y_test, predictions, num_classes=10).numpy()
    run.log_confusion_matrix("confusion matrix", matrix, list(range(10)))

    os.makedirs("outputs/model", exist_ok=True)
    model.save("outputs/model/model.keras")


if __name__ == "__main__":
    main()
