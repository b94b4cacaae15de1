"""Where the project's folders are: the checkout that holds ``src/analysis``."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CONFIG_DIR = PROJECT_ROOT / "config"
