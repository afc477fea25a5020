"""`python -m langmill.train cpt|sft|dpo ...`: the same command as `langmill train`, for launchers
that start a module on every process (`accelerate launch -m langmill.train sft ...`, torchrun)."""

from langmill.cli import main  # noqa: F401 - registers the command groups
from langmill.cli_train import train_group

if __name__ == "__main__":
    train_group(prog_name="python -m langmill.train")
