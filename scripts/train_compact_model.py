"""Distil the bundled model into a compact U-Net (fewer channels per level) on simulated movies.

The student has the widths ``--widths`` (default 16, 24, 32: half of the reference network's
32, 48, 64 at every level, about 4x fewer FLOPs per voxel, the same receptive field, tiling and
int8 path). It learns from

- the soft targets of the teacher (the bundled model, ``exodeepfinder_default.h5``): its class
  probabilities at temperature ``T`` (KL divergence, scaled by ``T**2``), computed once per
  movie with ``segment_movie`` and cut with the same patches as the frames;
- the truth: the training targets of ``edf_train`` (expert event masks from the simulation, bright
  spots from the built-in detector, the merge), with the default training loss (Dice + cross-entropy).

It starts from the teacher itself by channel selection: at every layer the channels with the
largest weight norms (incoming filter norm times the norm of the weights that read the channel)
are kept, consistently through the skip connections and concatenations. The patches, the
optimiser, the learning-rate schedule and the time box are those of ``edf_train``
(:class:`~exodeepfinder.training.Trainer`, :class:`~exodeepfinder.training.TimeBudget`, the
default recipe's sampling): the teacher's probabilities travel as extra "movies" cut by samplers
that repeat the frames sampler's random draws.

Movies (seeds disjoint from the tests, the calibration seeds 20000-20011 and the test seeds
21000+): ``default`` (the simulator's defaults), ``randomized`` (``simulate --randomize``) and
``distractors`` (randomised with every opt-in distractor of the simulator, as
``scripts/train_default_model.py``'s group of that name).

Usage::

    # movies, targets and the teacher's probabilities (heavy: run it under the CPU lock)
    python scripts/train_compact_model.py prepare --work /work/runs/compact/distil
    # training, time-boxed, resumable (checkpoint after every epoch; run it again to continue)
    python scripts/train_compact_model.py train --work /work/runs/compact/distil --minutes 40 --threads 1
    # held-out movies of our simulator (seeds 21000-21005, half randomised): student against the bundled model
    python scripts/train_compact_model.py evaluate --work /work/runs/compact/distil --weights bundled WORK/student.h5

The student is written to ``WORK/student.h5`` (the one Keras-layout weights format: every
command reads it, e.g. ``edf_segment -mw WORK/student.h5``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exodeepfinder.model.weights import BUNDLED_WEIGHTS  # noqa: E402
from exodeepfinder.training.trainer import Trainer  # noqa: E402

#: Groups of training movies: name -> (number, first seed, simulate_randomized ranges or None for the defaults).
GROUPS = {
    "default": (4, 30000, None),
    "randomized": (6, 31000, {}),
    "distractors": (4, 32000, {"bump_rate": [0, 8], "bump_contrast": [0.1, 0.4], "blink_rate": [0, 4],
                               "step_rate": [0, 4], "passing_rate": [0, 3], "focus_drift": [-0.3, 0.3]}),
}
SHAPE = (96, 128, 128)
N_EVENTS = 20
BLANK_FRAMES = (6, 6)
STUDENT_WIDTHS = (16, 24, 32)
CHECKPOINT = "checkpoint.pt"
STUDENT = "student.h5"

# -- the student's initial weights ----------------------------------------------------------------

#: For each convolution, the convolutions whose outputs it reads, in the order of its input channels
#: (None: the movie). Convolutions 9 and 12 read [upsampled, skip] concatenations.
INPUTS = {0: [None], 1: [0], 2: [1], 3: [2], 4: [3], 5: [4], 6: [5], 7: [6], 8: [7], 9: [8, 3], 10: [9],
          11: [10], 12: [11, 1], 13: [12], 14: [13]}


def select_channels(teacher_arrays, widths) -> list[np.ndarray]:
    """For each convolution but the classifier, the teacher's output channels the student keeps (sorted).

    A channel's score is the norm of its filter times the norm of the weights that read it (in
    every convolution that does: a skip is read twice); the highest-scored are kept.
    """
    from exodeepfinder.model.arrays import conv_layers

    student_layers = conv_layers(widths)
    readers = {i: [] for i in range(len(teacher_arrays))}  # producer -> [(reader, offset of its channels)]
    for reader, producers in INPUTS.items():
        offset = 0
        for producer in producers:
            if producer is not None:
                readers[producer].append((reader, offset))
                offset += teacher_arrays[producer][0].shape[0]
            else:
                offset += 1
    selections = []
    for index, (weight, _) in enumerate(teacher_arrays[:-1]):
        n = weight.shape[0]
        incoming = np.sqrt((weight.reshape(n, -1).astype(np.float64) ** 2).sum(1))
        outgoing = np.zeros(n)
        for reader, offset in readers[index]:
            read = teacher_arrays[reader][0][:, offset:offset + n]
            outgoing += (read.astype(np.float64) ** 2).sum(axis=(0, 2, 3, 4))
        score = incoming * np.sqrt(outgoing)
        keep = student_layers[index][1]
        selections.append(np.sort(np.argsort(-score, kind="stable")[:keep]))
    return selections


def student_from_teacher(teacher_arrays, widths) -> list[tuple[np.ndarray, np.ndarray]]:
    """The student's ``(weight, bias)`` arrays: the teacher's, restricted to the selected channels."""
    selections = select_channels(teacher_arrays, widths)
    arrays = []
    for index, (weight, bias) in enumerate(teacher_arrays):
        inputs, offset = [], 0
        for producer in INPUTS[index]:
            if producer is None:
                inputs.append(np.array([0]))
                offset += 1
            else:
                inputs.append(offset + selections[producer])
                offset += teacher_arrays[producer][0].shape[0]
        rows = selections[index] if index < len(selections) else np.arange(weight.shape[0])
        arrays.append((weight[rows][:, np.concatenate(inputs)].copy(), bias[rows].copy()))
    return arrays


# -- the movies -----------------------------------------------------------------------------------

def movie_names() -> list[tuple[str, int, dict | None]]:
    return [(f"{group}_{i:02d}", seed + i, ranges) for group, (count, seed, ranges) in GROUPS.items()
            for i in range(count)]


def prepare(work: Path, device: str = "cpu", log=print) -> None:
    """Simulate every movie, build its training target and the teacher's probabilities; one .npz per movie."""
    from exodeepfinder.events.targets import events_to_labels
    from exodeepfinder.inference.segment import segment_movie
    from exodeepfinder.io.atomic import atomic_output
    from exodeepfinder.model.weights import load_model
    from exodeepfinder.simulation.randomize import simulate_randomized
    from exodeepfinder.simulation.simulate import simulate_movie
    from exodeepfinder.training_data import detect_spots, merge_detector_expert

    folder = work / "movies"
    folder.mkdir(parents=True, exist_ok=True)
    teacher = load_model(BUNDLED_WEIGHTS, device=device)
    for name, seed, ranges in movie_names():
        path = folder / f"{name}.npz"
        if path.is_file():
            continue
        started = time.perf_counter()
        options = dict(n_events=N_EVENTS, blank_frames=BLANK_FRAMES)
        if ranges is None:
            simulation = simulate_movie(SHAPE, seed=seed, **options)
        else:
            simulation = simulate_randomized(SHAPE, seed=seed, ranges=ranges or None, **options)
        movie = simulation.movie
        expert = events_to_labels(simulation.events, movie.shape, label=1)
        labels, objects = merge_detector_expert(detect_spots(movie), simulation.events, expert)
        _, scores = segment_movie(movie, teacher, precision="fp32", tiling="fast", return_scores=True)
        with atomic_output(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, movie=movie, labels=labels.astype(np.int8),
                     objects=objects[["t", "y", "x", "class_label"]].to_numpy(float),
                     teacher=np.ascontiguousarray(scores[:, 1:].transpose(1, 0, 2, 3)).astype(np.float16))
        log(f"{name}: seed {seed}, {len(simulation.events)} events, {int((objects['class_label'] == 1).sum())} "
            f"spot objects, {time.perf_counter() - started:.0f} s")


def load_movies(work: Path):
    """The training movies and, per teacher class (spot, event), movies of the teacher's probabilities."""
    import pandas as pd

    from exodeepfinder.training.data import TrainingMovie, prepare_movie

    movies, teacher = [], ([], [])
    for name, _, _ in movie_names():
        data = np.load(work / "movies" / f"{name}.npz")
        objects = pd.DataFrame(data["objects"], columns=["t", "y", "x", "class_label"]).astype({"class_label": int})
        movie = prepare_movie(name, data["movie"], data["labels"], objects)
        movies.append(movie)
        for k in range(2):
            teacher[k].append(TrainingMovie(name, data["teacher"][k], movie.labels, movie.objects))
    return movies, teacher


# -- distillation ----------------------------------------------------------------------------------

class DistillationTrainer(Trainer):
    """:class:`~exodeepfinder.training.Trainer` whose batches carry the teacher's probabilities.

    Each batch is drawn by the trainer's sampler; the same draws (the generator's state copied
    before the batch) cut the teacher's spot and event probabilities from ``teacher_movies``.
    The loss is the recipe's (the truth) plus ``soft_weight * T**2 * KL(teacher_T || student_T)``.
    """

    def __init__(self, *args, teacher_movies, temperature: float = 2.0, soft_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.teacher_movies = teacher_movies
        self.temperature = float(temperature)
        self.soft_weight = float(soft_weight)

    def training_batches(self, sampler, batch_size: int, n_batches: int):
        import torch

        from exodeepfinder.training.batches import BatchPrefetcher, SerialBatches
        from exodeepfinder.training.sampling import PatchSampler

        follower = np.random.default_rng()
        options = self.recipe.sampler_options(sampler.patch_size)
        followers = [PatchSampler(movies, sampler.patch_size, sampler.random_shift, follower, **options)
                     for movies in self.teacher_movies]

        def make_batch():
            state = sampler.rng.bit_generator.state
            batch = sampler.sample(batch_size)
            soft = []
            for other in followers:
                follower.bit_generator.state = state
                soft.append(other.sample(batch_size).frames[:, 0])
            spot, event = (np.clip(s, 0, 1) for s in soft)
            teacher = np.stack([np.clip(1 - spot - event, 0, 1), spot, event], axis=1)
            frames, labels = self._tensors(batch)
            return frames, labels, torch.from_numpy(teacher)

        return (BatchPrefetcher if self.prefetch else SerialBatches)(make_batch, n_batches)

    def distillation_loss(self, logits, teacher):
        import torch

        t = self.temperature
        target = teacher.clamp_min(1e-8) ** (1 / t)
        target = target / target.sum(dim=1, keepdim=True)
        log_student = torch.log_softmax(logits / t, dim=1)
        return (target * (torch.log(target) - log_student)).sum(dim=1).mean() * t * t

    def train_step(self, batch, learning_rate: float | None = None) -> tuple[float, float]:
        import torch

        if not (isinstance(batch, tuple) and len(batch) == 3):
            return super().train_step(batch, learning_rate)
        self.model.train()
        if learning_rate is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
        frames, labels = self._to_device(batch[:2])
        teacher = batch[2].to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        logits = self._logits(frames, self.network)
        loss = self.loss_function(logits, labels) + self.soft_weight * self.distillation_loss(logits, teacher)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == labels).sum() / labels.numel()
        return float(loss.detach()), float(accuracy)


def train(work: Path, *, minutes: float, device: str = "cpu", widths, batch_size: int, patch_size: int,
          learning_rate: float, temperature: float, soft_weight: float, steps_per_epoch: int, seed: int,
          log=print) -> Path:
    """Distil (or continue distilling) the student for about ``minutes``; return its weights file."""
    import torch

    from exodeepfinder.io.atomic import atomic_output
    from exodeepfinder.model.arrays import UNetWeights
    from exodeepfinder.model.keras_weights import read_unet_arrays, save_keras_weights
    from exodeepfinder.model.weights import pick_device
    from exodeepfinder.training import Stage, TimeBudget, get_recipe
    from exodeepfinder.training.history import History

    started = time.monotonic()
    movies, teacher_movies = load_movies(work)
    log(f"{len(movies)} movies of {SHAPE} loaded in {time.monotonic() - started:.0f} s")
    checkpoint = work / CHECKPOINT
    state = torch.load(checkpoint, weights_only=False, map_location="cpu") if checkpoint.is_file() else None
    if state is not None and tuple(state["widths"]) != tuple(widths):
        raise SystemExit(f"{checkpoint}: a student of widths {state['widths']}, not {tuple(widths)}")
    model = UNetWeights(student_from_teacher(read_unet_arrays(BUNDLED_WEIGHTS), widths)).to_torch()
    model.softmax = False
    model.train()
    history = History()
    if state is not None:
        model.load_state_dict(state["weights"])
        history = History.from_arrays(state["history"])
        log(f"resuming after {len(history)} epochs ({state['seconds'] / 60:.1f} min of training)")
    recipe = get_recipe("dice_ce", learning_rate=learning_rate)
    torch.manual_seed(seed)
    trainer = DistillationTrainer(model, movies, [], recipe=recipe, device=pick_device(device), precision="fp32",
                                  seed=seed,
                                  teacher_movies=teacher_movies, temperature=temperature, soft_weight=soft_weight)
    if state is not None:
        trainer.load_state_dict(state["trainer"])
    done = len(history)
    requested = [Stage(patch_size, batch_size, patch_size // 4, done + 10000, steps_per_epoch)]
    budget = TimeBudget(minutes * 60, requested, steps_per_valid=0, started=started, log=log)
    spent = state["seconds"] if state is not None else 0.0

    def on_epoch(record, history, stage_done):
        nonlocal spent
        spent += record.seconds
        save_keras_weights(model, work / STUDENT, overwrite=True)
        with atomic_output(checkpoint, overwrite=True) as tmp:
            torch.save({"weights": model.state_dict(), "trainer": trainer.state_dict(), "widths": tuple(widths),
                        "history": history.to_arrays(), "seconds": spent}, tmp)
        log(f"epoch {record.epoch}: loss {record.loss:.4f}, voxel accuracy {record.acc:.4f}, {record.seconds:.0f} s; "
            f"{spent / 60:.1f} min in all")

    history = trainer.fit(requested, steps_per_valid=0, history=history, on_epoch=on_epoch, planner=budget)
    (work / "recipe.json").write_text(json.dumps(dict(
        widths=list(widths), shape=SHAPE, n_events=N_EVENTS, blank_frames=BLANK_FRAMES,
        groups={k: [v[0], v[1], v[2]] for k, v in GROUPS.items()}, batch_size=batch_size, patch_size=patch_size,
        learning_rate=learning_rate, temperature=temperature, soft_weight=soft_weight, seed=seed,
        epochs=len(history), minutes=spent / 60), indent=1))
    return work / STUDENT


#: Held-out movies of our simulator: (seed, randomised), 120 x 128 x 128 (the test seeds 21000+).
HELD_OUT = [(21000 + i, i >= 3) for i in range(6)]
HELD_OUT_SHAPE = (120, 128, 128)


def evaluate(work: Path, weights_list, log=print) -> dict:
    """Pooled event precision, recall and F1 of each weights on the held-out movies (same movies for all).

    ``exodeepfinder.detect`` with its defaults and every event kept (``min_confidence=0``: no
    calibrated threshold, which only some weights have), matched at tolerance 5. The events of
    every movie are written to ``WORK/heldout/<weights>/<movie>.csv``.
    """
    from exodeepfinder import detect
    from exodeepfinder.events.evaluate import match_events, summarize
    from exodeepfinder.model.weights import load_model
    from exodeepfinder.simulation.randomize import simulate_randomized
    from exodeepfinder.simulation.simulate import simulate_movie

    simulations = [simulate_randomized(HELD_OUT_SHAPE, seed=seed) if randomized
                   else simulate_movie(HELD_OUT_SHAPE, seed=seed) for seed, randomized in HELD_OUT]
    results = {}
    for weights in weights_list:
        name = weights if weights in ("bundled", "official") else Path(weights).stem
        model = load_model(weights, device="cpu")
        folder = work / "heldout" / name
        folder.mkdir(parents=True, exist_ok=True)
        counts, per_movie, started = np.zeros(3, int), [], time.perf_counter()
        for (seed, randomized), simulation in zip(HELD_OUT, simulations):
            events = detect(simulation.movie, model, offset=simulation.params["offset"], min_confidence=0).events
            matching = match_events(events, simulation.events, tolerance=5)
            events.assign(matched=events.index.isin(matching.pairs["detected"])).to_csv(
                folder / f"{'randomized' if randomized else 'default'}_{seed}.csv", index=False)
            summary = matching.summary
            counts += [summary["tp"], summary["fp"], summary["fn"]]
            per_movie.append({"seed": seed, "randomized": randomized,
                              **{k: summary[k] for k in ("tp", "fp", "fn", "f1")}})
        pooled = summarize(*counts)
        pooled.update(seconds=round(time.perf_counter() - started, 1), per_movie=per_movie)
        log(f"{name}: precision {pooled['precision']:.3f} recall {pooled['recall']:.3f} F1 {pooled['f1']:.3f} "
            f"({pooled['tp']} found, {pooled['fp']} false, {pooled['fn']} missed; {pooled['seconds']:.0f} s)")
        results[name] = pooled
    path = work / "heldout" / "evaluation.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**previous, **results}, indent=1))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phase", choices=("prepare", "train", "evaluate"))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=30.0, help="time box of this training call")
    parser.add_argument("--widths", type=int, nargs=3, default=STUDENT_WIDTHS)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--patch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=3e-4)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--soft_weight", type=float, default=1.0)
    parser.add_argument("--steps_per_epoch", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="where the teacher (prepare) and the student (train) run")
    parser.add_argument("--weights", nargs="+", default=["bundled"], help="evaluate: bundled or weights files")
    parser.add_argument("--threads", type=int, default=None, help="PyTorch and OpenVINO threads")
    parser.add_argument("--smoke", action="store_true", help="one small movie per group (a check of the script)")
    args = parser.parse_args(argv)
    if args.smoke:
        global SHAPE, N_EVENTS
        SHAPE, N_EVENTS = (40, 64, 64), 8
        for group, (_, seed, ranges) in GROUPS.items():
            GROUPS[group] = (1, seed, ranges)

    def log(message):
        print(time.strftime("%H:%M:%S"), message, flush=True)

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        from exodeepfinder.inference.openvino_runtime import core

        core().set_property("CPU", {"INFERENCE_NUM_THREADS": args.threads})
    args.work.mkdir(parents=True, exist_ok=True)
    if args.phase == "prepare":
        prepare(args.work, args.device, log=log)
    elif args.phase == "evaluate":
        evaluate(args.work, args.weights, log=log)
    else:
        path = train(args.work, minutes=args.minutes, device=args.device, widths=tuple(args.widths),
                     batch_size=args.batch_size, patch_size=args.patch_size, learning_rate=args.learning_rate,
                     temperature=args.temperature,
                     soft_weight=args.soft_weight, steps_per_epoch=args.steps_per_epoch, seed=args.seed, log=log)
        log(f"student: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
