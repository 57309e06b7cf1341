"""C1's task protocol, as Dagster runs serve it: one room between `defs/` and `c1/`.

C1 hands out tasks (GetTask); each is served by a Dagster run and finished (FinishTask).
What that takes, and only that, lives here:

- `tags`: the run tags saying which tasks a run serves and what it has done with each;
- `requests`: a task (or a batch of them) -> a RunRequest: run keys, attempts, batches;
- `loop`: `TaskLoop`, one tick of C1's loop (hello once, GetTask until a batch is
  drained), holding the state that outlives a tick (hellos sent, the token cache);
- `finish`: finishing a task: success with its response, a retryable or final error,
  the work recorded first so that a dead run's task is still finished right.

Arrows point down: `defs/` (sensors, assets, ops) calls this room, this room calls the
C1 client (`c1/`). It is a room of its own, not part of `c1/`, because it knows Dagster
(run tags, RunRequest, the instance) while `c1/` is only C1's wire contract and stays
usable without Dagster (the sandbox, the benchmarks). It imports no asset or job
machinery: job names, op names and tags come in as plain values (`requests.RunTargets`).
"""
