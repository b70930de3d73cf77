"""Progress display while waiting: tqdm when it is installed, plain lines on stderr otherwise."""
import sys
import time


class Progress:
    def __init__(self, label, enabled=True):
        self.label = label
        self.enabled = enabled
        self.bar = None
        self.last = 0.0
        self.shown = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=0, desc=label, unit="stimuli")

    def update(self, done, total, state):
        if not self.enabled:
            return
        if self.bar is not None:
            if self.bar.total != total:
                self.bar.total = total
                self.bar.refresh()
            self.bar.update(done - self.bar.n)
            self.bar.set_postfix_str(state, refresh=False)
            return
        now = time.monotonic()
        if (done, total, state) != self.shown and (now - self.last >= 2.0 or done == total):
            pct = f" ({100 * done / total:.0f}%)" if total else ""
            print(f"{self.label}: {state} {done}/{total}{pct}", file=sys.stderr, flush=True)
            self.shown, self.last = (done, total, state), now

    def close(self, state):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(state)
            self.bar.close()
        elif self.shown is None or self.shown[2] != state:
            print(f"{self.label}: {state}", file=sys.stderr, flush=True)
