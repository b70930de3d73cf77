-- What a region encodes (issue 10): results of top-stimuli and profile jobs (rows of `jobs` with kind
-- 'top-stimuli' or 'profile'), the stored cross-validation splits, and per-unit selectivity across a
-- localizer battery.

CREATE TABLE encoding_results (
  job_id        TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  kind          TEXT NOT NULL CHECK (kind IN ('top-stimuli', 'profile')),
  result        TEXT NOT NULL                   -- JSON: examples, histogram, quantile groups / categories with CIs
);

CREATE TABLE encoding_arrays (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  name          TEXT NOT NULL,                  -- e.g. units.top.index (i32, units × k), units.top.value (f32)
  dtype         TEXT NOT NULL CHECK (dtype IN ('f32', 'f64', 'i32')),
  data          BLOB NOT NULL,
  PRIMARY KEY (job_id, name)
);

CREATE TABLE encoding_stimuli (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx           INTEGER NOT NULL,               -- the job's stimulus index: its sets in order, items in position order
  set_id        TEXT NOT NULL,
  position      INTEGER NOT NULL,
  item_sha256   TEXT NOT NULL,
  PRIMARY KEY (job_id, idx)
);

CREATE TABLE profile_splits (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  split         INTEGER NOT NULL,
  definition    BLOB NOT NULL,                  -- Int32 stimulus indices that defined the fROI
  measurement   BLOB NOT NULL,                  -- Int32 stimulus indices measured with it
  definition_items TEXT NOT NULL,               -- JSON: item hashes that defined it outside this job (independent localizer)
  roi           TEXT NOT NULL,                  -- JSON: [{layer, units}]
  control       TEXT,                           -- JSON: the matched random control, when measured
  PRIMARY KEY (job_id, split)
);

CREATE TABLE selectivity (
  id            TEXT PRIMARY KEY,
  model_id      TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
  battery_id    TEXT NOT NULL,
  spec          TEXT NOT NULL,                  -- JSON: categories, threshold, provenance
  result        TEXT NOT NULL,                  -- JSON: layer summaries
  created_at    TEXT NOT NULL
);
CREATE INDEX selectivity_model ON selectivity (model_id);

CREATE TABLE selectivity_arrays (
  selectivity_id TEXT NOT NULL REFERENCES selectivity (id) ON DELETE CASCADE,
  layer         TEXT NOT NULL,
  name          TEXT NOT NULL,                  -- mean.<c>, dprime.<c> (f32), preferred, n_above (i32), si, sparseness, max_dprime (f32)
  dtype         TEXT NOT NULL CHECK (dtype IN ('f32', 'f64', 'i32')),
  data          BLOB NOT NULL,
  PRIMARY KEY (selectivity_id, layer, name)
);
