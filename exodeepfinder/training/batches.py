"""The batches of an epoch: drawn one ahead in a background thread, or on the training thread."""

from __future__ import annotations

from typing import Callable


class BatchPrefetcher:
    """Draws the batches of one epoch in a background thread, one batch ahead of the training.

    Cutting patches and converting them to tensors then overlaps with the network's work
    (PyTorch and NumPy's copies release the GIL). Exactly ``n_batches`` batches are drawn, in
    order, so the random generator ends an epoch where drawing on the main thread leaves it:
    checkpoints and resumed runs are unchanged.
    """

    def __init__(self, make_batch: Callable, n_batches: int):
        import queue
        import threading

        self._queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._n_batches = n_batches
        self._thread = threading.Thread(target=self._work, args=(make_batch,), daemon=True,
                                        name="edf-train-batches")
        self._thread.start()

    def _work(self, make_batch) -> None:
        import queue

        for _ in range(self._n_batches):
            try:
                item = make_batch()
            except BaseException as error:  # handed to the training thread, which raises it
                item = error
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set() or isinstance(item, BaseException):
                return

    def __iter__(self):
        for _ in range(self._n_batches):
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop drawing (e.g. when training is cancelled mid-epoch) and wait for the thread."""
        self._stop.set()
        self._thread.join()



class SerialBatches:
    """Batches drawn on the training thread (``prefetch=False``)."""

    def __init__(self, make_batch, n_batches):
        self._make_batch, self._n_batches = make_batch, n_batches

    def __iter__(self):
        return (self._make_batch() for _ in range(self._n_batches))

    def close(self) -> None:
        pass
