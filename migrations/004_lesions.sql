-- Lesions (issue 9): a class label per stimulus item; lesion jobs (jobs.kind = 'lesion') with their
-- configurations (the intact model, each dose's lesion, its random and spatial controls, all with their
-- units), the unit means of mean-mode lesions, per-stimulus values and the summary.
-- A lesion job lists its evaluation sets in job_sets under condition 'a' and its reference sets under 'b'.

ALTER TABLE stimulus_set_items ADD COLUMN class_label TEXT;   -- the item's class name (e.g. from labels.json), or null

CREATE TABLE lesion_configs (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx           INTEGER NOT NULL,               -- 0: the intact model; then per dose: lesion, random controls, spatial controls
  role          TEXT NOT NULL CHECK (role IN ('intact', 'lesion', 'random', 'spatial')),
  dose          INTEGER,                        -- index into params.doses; null for the intact model
  control       INTEGER,                        -- index among the controls of its role and dose; null otherwise
  seed          INTEGER,                        -- the seed a control's units were drawn with
  n_units       INTEGER NOT NULL,
  PRIMARY KEY (job_id, idx)
);

CREATE TABLE lesion_config_layers (
  job_id        TEXT NOT NULL,
  idx           INTEGER NOT NULL,
  layer         TEXT NOT NULL,
  n_units       INTEGER NOT NULL,
  units         BLOB NOT NULL,                  -- Int32 unit indices, ascending
  PRIMARY KEY (job_id, idx, layer),
  FOREIGN KEY (job_id, idx) REFERENCES lesion_configs (job_id, idx) ON DELETE CASCADE
);

CREATE TABLE lesion_means (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  layer         TEXT NOT NULL,
  rows          INTEGER NOT NULL,               -- pooled rows averaged (tokens for text, images for image models)
  data          BLOB NOT NULL,                  -- Float64 per unit: its mean over the reference sets
  PRIMARY KEY (job_id, layer)
);

CREATE TABLE lesion_results (
  job_id        TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  summary       TEXT NOT NULL,                  -- JSON: per dose and set, measures, effects, control tests, specificity
  partials      TEXT NOT NULL,                  -- JSON: per configuration and set, the sums the measures come from
  stimuli       TEXT NOT NULL                   -- JSON: the evaluation order (set, item hash, file name, class label)
);

CREATE TABLE lesion_values (
  job_id        TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  measure       TEXT NOT NULL,                  -- ceSum, tokens (lm); correct, logp, agree, kl, pred (classifier)
  configs       INTEGER NOT NULL,
  stimuli       INTEGER NOT NULL,
  data          BLOB NOT NULL,                  -- Float64 configs × stimuli, row-major
  PRIMARY KEY (job_id, measure)
);
