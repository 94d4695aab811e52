"""Model folders: the U-Net weights, a candidate classifier and a card, as ``exodeepfinder adapt`` writes them.

A model folder is accepted wherever weights are (``-mw my_model/``, ``load_model("my_model")``,
the Detect widget's weights)::

    my_model/
        weights.h5          the U-Net (Keras layout, as training writes it)
        classifier.json     the candidate classifier (optional: absent when it did not help)
        model_card.json     what made the model: base weights and their sha256, the movies and
                            corrections used, held-out precision/recall/F1 per stage, date,
                            version, and the sha256 of every file of the folder

Every file named by the card is checked against its sha256 when the folder is loaded: a changed,
damaged or missing file, or a missing card, is a one-line :class:`~exodeepfinder.errors.InputError`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..io.digest import file_sha256 as sha256_of  # noqa: F401

MODEL_CARD = "model_card.json"
WEIGHTS_FILE = "weights.h5"
CLASSIFIER_FILE = "classifier.json"
#: ``format`` of a model card.
FOLDER_FORMAT = "exodeepfinder-model-folder"
FOLDER_VERSION = 1



@dataclass
class ModelFolder:
    """A checked model folder (:func:`read_model_folder`).

    Attributes
    ----------
    path : Path
    weights_path : Path
        The U-Net weights file inside it.
    classifier : CandidateClassifier or None
        The candidate classifier, or None (the folder detects as its weights alone).
    card : dict
        The model card.
    """

    path: Path
    weights_path: Path
    classifier: object = None
    card: dict = field(default_factory=dict)


def is_model_folder(path) -> bool:
    """True if ``path`` is a folder (which :func:`read_model_folder` then checks)."""
    return path is not None and not isinstance(path, bool) and Path(path).expanduser().is_dir()


def read_model_folder(path) -> ModelFolder:
    """Read and check a model folder.

    Raises
    ------
    InputError
        One line naming the file: no card, a card that is not one, a file missing or whose
        sha256 differs from the card's (changed or damaged), a classifier that is not one.
    """
    from ..events.classify import classifier_from_dict

    path = Path(path).expanduser()
    card_path = path / MODEL_CARD
    if not card_path.is_file():
        raise InputError(f"{path}: not a model folder (no {MODEL_CARD}; a model folder is written by "
                         "'exodeepfinder adapt')")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{card_path}: not a model card (not JSON: {err})") from None
    if not isinstance(card, dict) or card.get("format") != FOLDER_FORMAT:
        raise InputError(f"{card_path}: not a model card ('format' is not {FOLDER_FORMAT!r})")
    files = card.get("files")
    if not isinstance(files, dict) or WEIGHTS_FILE not in files:
        raise InputError(f"{card_path}: the card lists no {WEIGHTS_FILE} in 'files'")
    for name, expected in files.items():
        if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
            raise InputError(f"{card_path}: invalid file name {name!r} in 'files'")
        file = path / name
        if not file.is_file():
            raise InputError(f"{file}: missing (the model card lists it)")
        if sha256_of(file) != expected:
            raise InputError(f"{file}: changed or damaged (its sha256 differs from the model card's)")
    classifier = None
    if CLASSIFIER_FILE in files:
        try:
            data = json.loads((path / CLASSIFIER_FILE).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{path / CLASSIFIER_FILE}: not a candidate classifier (not JSON: {err})") from None
        classifier = classifier_from_dict(data, path / CLASSIFIER_FILE)
    return ModelFolder(path, path / WEIGHTS_FILE, classifier, card)


def write_model_folder(path, weights, card: dict, classifier=None, *, overwrite: bool = False) -> Path:
    """Write a model folder atomically (it appears complete or not at all).

    Parameters
    ----------
    path : str or Path
        The folder to create.
    weights : str or Path or torch.nn.Module
        A weights file to copy, or a U-Net whose weights are saved.
    card : dict
        The model card's content; ``format``, ``version`` and ``files`` (the sha256 of every
        file written) are added.
    classifier : CandidateClassifier, optional
    overwrite : bool
        Replace an existing model folder (only a model folder: any other existing path is refused).
        The old folder is renamed to ``.<name>.replaced-<pid>`` beside it while the new one is
        written, put back if writing fails, and removed once the new one is complete.

    Returns
    -------
    Path
    """
    path = Path(path).expanduser()
    if path.exists():
        if not overwrite:
            raise InputError(f"{path}: already exists (choose another folder, or allow overwriting)")
        if not (path.is_dir() and (path / MODEL_CARD).is_file()):
            raise InputError(f"{path}: exists and is not a model folder; not replaced")
    # atomic_output publishes files, not over folders: the old folder steps aside and comes back if
    # the new one cannot be written
    replaced = _step_aside(path) if path.exists() else None
    try:
        _write_folder(path, weights, card, classifier)
    except BaseException:
        if replaced is not None and not path.exists():
            replaced.rename(path)
        raise
    if replaced is not None:
        shutil.rmtree(replaced)
    return path


def _step_aside(path: Path) -> Path:
    """Rename a model folder about to be replaced to a hidden name beside it."""
    aside = path.with_name(f".{path.name}.replaced-{os.getpid()}")
    path.rename(aside)
    return aside


def _write_folder(path: Path, weights, card: dict, classifier) -> None:
    from ..events.classify import save_classifier
    from ..io.atomic import atomic_output

    with atomic_output(path) as scratch:
        scratch.mkdir()
        if isinstance(weights, (str, Path)):
            shutil.copyfile(weights, scratch / WEIGHTS_FILE)
        else:
            from .keras_weights import save_keras_weights

            save_keras_weights(weights, scratch / WEIGHTS_FILE)
        if classifier is not None:
            save_classifier(classifier, scratch / CLASSIFIER_FILE)
        files = {name: sha256_of(scratch / name) for name in (WEIGHTS_FILE, CLASSIFIER_FILE)
                 if (scratch / name).is_file()}
        full = {"format": FOLDER_FORMAT, "version": FOLDER_VERSION, **card, "files": files}
        (scratch / MODEL_CARD).write_text(json.dumps(full, indent=1, default=_plain) + "\n", encoding="utf-8")


def _plain(value):
    """JSON for NumPy numbers and paths in a card."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
