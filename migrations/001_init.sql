-- toposcope schema, version 1.
-- Models, stimulus sets and items are content-addressed; jobs follow a state machine; results keep
-- per-unit statistics as little-endian typed-array blobs beside JSON summaries.

CREATE TABLE models (
  id            TEXT PRIMARY KEY,               -- first 16 hex digits of `hash`
  hash          TEXT NOT NULL UNIQUE,           -- sha256 over the ONNX bytes, the canonical manifest and side files
  name          TEXT NOT NULL,
  modality      TEXT NOT NULL CHECK (modality IN ('image', 'text')),
  manifest      TEXT NOT NULL,                  -- JSON, as validated
  onnx_sha256   TEXT NOT NULL,
  dir           TEXT NOT NULL,                  -- storage folder, relative to the data directory
  size_bytes    INTEGER NOT NULL,
  info          TEXT NOT NULL,                  -- JSON: graph inputs/outputs and each layer's resolved sheet
  source        TEXT NOT NULL,                  -- 'upload', 'folder:<path>' or 'fixture:<name>'
  created_at    TEXT NOT NULL
);
CREATE INDEX models_name ON models (name);

CREATE TABLE stimulus_items (
  sha256        TEXT PRIMARY KEY,
  kind          TEXT NOT NULL CHECK (kind IN ('image', 'text')),
  media_type    TEXT NOT NULL,
  size_bytes    INTEGER NOT NULL,
  text          TEXT,                           -- text items are stored inline
  path          TEXT,                           -- image items: blob file relative to the data directory
  created_at    TEXT NOT NULL
);

CREATE TABLE stimulus_sets (
  id            TEXT PRIMARY KEY,               -- first 16 hex digits of `hash`
  hash          TEXT NOT NULL UNIQUE,           -- sha256 over name, modality and the ordered item hashes
  name          TEXT NOT NULL,
  modality      TEXT NOT NULL CHECK (modality IN ('image', 'text')),
  n_items       INTEGER NOT NULL,
  source        TEXT NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE INDEX stimulus_sets_name ON stimulus_sets (name);

CREATE TABLE stimulus_set_items (
  set_id        TEXT NOT NULL REFERENCES stimulus_sets (id) ON DELETE CASCADE,
  position      INTEGER NOT NULL,
  item_sha256   TEXT NOT NULL REFERENCES stimulus_items (sha256),
  label         TEXT,                           -- original file name, or null for text lines
  PRIMARY KEY (set_id, position)
);
CREATE INDEX stimulus_set_items_item ON stimulus_set_items (item_sha256);

CREATE TABLE jobs (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL DEFAULT 'contrast',
  model_id      TEXT NOT NULL REFERENCES models (id),
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  params        TEXT NOT NULL,                  -- JSON: the normalised request
  provenance    TEXT NOT NULL,                  -- JSON: model hash, stimulus hashes, parameters, seed, version
  progress_done INTEGER NOT NULL DEFAULT 0,
  progress_total INTEGER NOT NULL DEFAULT 0,
  error         TEXT,
  timings       TEXT,                           -- JSON, when finished
  attempts      INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL,
  started_at    TEXT,
  finished_at   TEXT,
  seq           INTEGER NOT NULL                -- submission order
);
CREATE INDEX jobs_state ON jobs (state, seq);
CREATE INDEX jobs_model ON jobs (model_id, seq);

CREATE TABLE job_sets (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  condition     TEXT NOT NULL CHECK (condition IN ('a', 'b')),
  position      INTEGER NOT NULL,
  set_id        TEXT NOT NULL REFERENCES stimulus_sets (id),
  PRIMARY KEY (job_id, condition, position)
);
CREATE INDEX job_sets_set ON job_sets (set_id);

CREATE TABLE layer_results (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  layer         TEXT NOT NULL,
  position      INTEGER NOT NULL,
  units         INTEGER NOT NULL,
  rows          INTEGER NOT NULL,
  cols          INTEGER NOT NULL,
  n_a           INTEGER NOT NULL,
  n_b           INTEGER NOT NULL,
  summary       TEXT NOT NULL,                  -- JSON
  cell_of_unit  BLOB NOT NULL,                  -- Int32 per unit
  t             BLOB NOT NULL,                  -- Float32 per unit
  df            BLOB NOT NULL,                  -- Float32
  p             BLOB NOT NULL,                  -- Float64 (tiny p survive)
  log10p        BLOB NOT NULL,                  -- Float64
  q             BLOB NOT NULL,                  -- Float64
  d             BLOB NOT NULL,                  -- Float32
  g             BLOB NOT NULL,                  -- Float32
  mean_a        BLOB NOT NULL,                  -- Float32
  mean_b        BLOB NOT NULL,                  -- Float32
  var_a         BLOB NOT NULL,                  -- Float32
  var_b         BLOB NOT NULL,                  -- Float32
  PRIMARY KEY (job_id, layer)
);

CREATE TABLE activations (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  layer         TEXT NOT NULL,
  rows          INTEGER NOT NULL,
  units         INTEGER NOT NULL,
  path          TEXT NOT NULL,                  -- .npy float32 rows×units, relative to the data directory
  row_index_path TEXT NOT NULL,                 -- .npy int32 rows×2: stimulus index, token index (−1 when pooled)
  PRIMARY KEY (job_id, layer)
);

CREATE TABLE job_stimuli (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx           INTEGER NOT NULL,               -- stimulus index: A's items first, then B's
  condition     TEXT NOT NULL CHECK (condition IN ('a', 'b')),
  set_id        TEXT NOT NULL,
  item_sha256   TEXT NOT NULL,
  label         TEXT,
  PRIMARY KEY (job_id, idx)
);
