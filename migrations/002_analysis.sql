-- Inference beyond the t-map: regions, topography, reliability, permutation FWE; masks (fROI);
-- map comparisons; localizer batteries (several contrasts sharing one pass through the model).

ALTER TABLE layer_results ADD COLUMN analysis TEXT NOT NULL DEFAULT '{}';   -- JSON: moran, smoothness, reliability, permutation, cluster parameters

CREATE TABLE layer_clusters (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  layer         TEXT NOT NULL,
  cluster_id    INTEGER NOT NULL,               -- 1-based, by decreasing mass
  sign          INTEGER NOT NULL,
  size          INTEGER NOT NULL,
  mass          REAL NOT NULL,                  -- Σ|t|
  peak_t        REAL NOT NULL,
  peak_unit     INTEGER NOT NULL,
  peak_row      INTEGER NOT NULL,
  peak_col      INTEGER NOT NULL,
  centroid_row  REAL NOT NULL,
  centroid_col  REAL NOT NULL,
  p_mass        REAL,                           -- cluster-level FWE p (max mass null), when permutations ran
  p_size        REAL,                           -- cluster-level FWE p (max size null)
  PRIMARY KEY (job_id, layer, cluster_id)
);

CREATE TABLE layer_arrays (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  layer         TEXT NOT NULL,
  name          TEXT NOT NULL,                  -- cluster_label (i32), p_fwe (f64), tfce (f32), ...
  dtype         TEXT NOT NULL CHECK (dtype IN ('f32', 'f64', 'i32')),
  data          BLOB NOT NULL,                  -- one value per unit
  PRIMARY KEY (job_id, layer, name)
);

ALTER TABLE jobs ADD COLUMN battery_id TEXT;    -- contrasts submitted together as one localizer battery
CREATE INDEX jobs_battery ON jobs (battery_id);

CREATE TABLE masks (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  model_id      TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
  job_id        TEXT REFERENCES jobs (id) ON DELETE SET NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('top-percent', 'significant', 'cluster', 'explicit', 'random-control')),
  spec          TEXT NOT NULL,                  -- JSON: how it was made (parameters, seed)
  control_of    TEXT REFERENCES masks (id) ON DELETE CASCADE,
  n_units       INTEGER NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE INDEX masks_model ON masks (model_id);

CREATE TABLE mask_layers (
  mask_id       TEXT NOT NULL REFERENCES masks (id) ON DELETE CASCADE,
  layer         TEXT NOT NULL,
  n_units       INTEGER NOT NULL,
  units         BLOB NOT NULL,                  -- Int32 unit indices, ascending
  PRIMARY KEY (mask_id, layer)
);

CREATE TABLE comparisons (
  id            TEXT PRIMARY KEY,
  spec          TEXT NOT NULL,                  -- JSON: the maps compared (contrast, layer, stat)
  result        TEXT NOT NULL,                  -- JSON: pearson and ssim matrices
  created_at    TEXT NOT NULL
);
