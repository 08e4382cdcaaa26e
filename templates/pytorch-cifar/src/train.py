"""The PyTorch tutorial CNN on CIFAR-10 (the Azure ML sample), saving a TorchScript model to outputs/."""

import argparse
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as transforms

from trainers import Run
from trainers.datasets import CIFAR10_CLASSES, load_cifar10, take_subset


class Net(nn.Module):
    """conv 3→6 k5, pool, conv 6→16 k5, pool, fc 400→120→84→10 (the classic tutorial network)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class ArrayDataset(torch.utils.data.Dataset):
    """CIFAR images (N, 3, 32, 32) uint8 → tensors via torchvision transforms (ToTensor expects HWC)."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images.transpose(0, 2, 3, 1), labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def load(folder, max_train_samples, seed):
    if not any(os.scandir(folder)):  # empty: torchvision downloads (and md5-checks) the python batches
        import torchvision

        print(f"{folder} is empty: downloading CIFAR-10 with torchvision", flush=True)
        torchvision.datasets.CIFAR10(root=folder, train=True, download=True)
    x_train, y_train, x_test, y_test = load_cifar10(folder)
    x_train, y_train = take_subset(x_train, y_train, max_train_samples, seed)
    return x_train, y_train, x_test, y_test


def evaluate(net, loader, device):
    predictions, truth = [], []
    net.eval()
    with torch.no_grad():
        for images, labels in loader:
            predictions.append(net(images.to(device)).argmax(1).cpu())
            truth.append(labels)
    net.train()
    return torch.cat(predictions).numpy(), torch.cat(truth).numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-folder", required=True, help="Folder with CIFAR-10 python batches")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-samples", type=int, default=0, help="Train on a random subset (0 = all)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    print(f"torch {torch.__version__} on {device}", flush=True)
    run = Run.get_context()
    x_train, y_train, x_test, y_test = load(args.data_folder, args.max_train_samples, args.seed)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = torch.utils.data.DataLoader(ArrayDataset(x_train, y_train, transform),
                                               batch_size=args.batch_size, shuffle=True, generator=generator)
    test_loader = torch.utils.data.DataLoader(ArrayDataset(x_test, y_test, transform), batch_size=256)

    net = Net().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=args.learning_rate, momentum=args.momentum)
    every = min(2000, len(train_loader))  # the sample logs every 2000 mini-batches
    step = 0
    for epoch in range(args.epochs):
        running, epoch_loss = 0.0, 0.0
        for i, (inputs, labels) in enumerate(train_loader, 1):
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            optimizer.step()
            running += loss.item()
            epoch_loss += loss.item()
            step += 1
            if i % every == 0:
                print(f"[{epoch + 1}, {i:5d}] loss: {running / every:.3f}", flush=True)
                run.log("loss", running / every, step=step)
                running = 0.0
        predictions, truth = evaluate(net, test_loader, device)
        run.log("epoch loss", epoch_loss / len(train_loader), step=epoch)
        run.log("epoch test accuracy", float(np.mean(predictions == truth)), step=epoch)

    predictions, truth = evaluate(net, test_loader, device)
    accuracy = float(np.mean(predictions == truth))
    print(f"test accuracy: {accuracy:.4f}", flush=True)
    run.log("accuracy", accuracy)
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (truth, predictions), 1)
    run.log_confusion_matrix("confusion matrix", matrix, CIFAR10_CLASSES)

    os.makedirs("outputs", exist_ok=True)
    torch.jit.script(net.cpu().eval()).save("outputs/cifar_net.pt")


if __name__ == "__main__":
    main()
