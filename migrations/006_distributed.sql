-- Distributed passes (issue 12). With TOPOSCOPE_REDIS_URL set, every pass of a job through the model is
-- split into shards (contiguous slices of its batches) that workers run; the coordinator records each
-- shard whose partial it has received and stored (under <data>/shards/<job>/), so that after a restart
-- only the shards not received are enqueued again, and partials are merged in shard order.

CREATE TABLE passes (
  id            TEXT PRIMARY KEY,               -- <job id>.<pass name>
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  name          TEXT NOT NULL,                  -- main, reference, evaluation, tokens
  plan_sha256   TEXT NOT NULL,                  -- of the pass and every shard's work: partials are kept only for the same plan
  shards        INTEGER NOT NULL,
  stimuli       INTEGER NOT NULL,
  flow          TEXT,                           -- the BullMQ parent job of the shards last enqueued
  created_at    TEXT NOT NULL
);
CREATE INDEX passes_job ON passes (job_id);

CREATE TABLE pass_shards (
  pass_id       TEXT NOT NULL REFERENCES passes (id) ON DELETE CASCADE,
  shard         INTEGER NOT NULL,
  stimuli       INTEGER NOT NULL,
  bytes         INTEGER NOT NULL,               -- of the partial as received
  sha256        TEXT NOT NULL,
  worker        TEXT,                           -- who sent it (host:pid)
  timings       TEXT,                           -- JSON: the worker's encode and inference times
  received_at   TEXT NOT NULL,
  PRIMARY KEY (pass_id, shard)
);
