-- Each layer's sheet, resolved once at registration and stored (unit → cell, sheet coordinates);
-- log10 of the corrected p, computed from log10 p so it stays finite where q underflows.

CREATE TABLE model_sheets (
  model_id      TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
  layer         TEXT NOT NULL,
  type          TEXT NOT NULL CHECK (type IN ('grid', 'coordinates')),
  rows          INTEGER NOT NULL,
  cols          INTEGER NOT NULL,
  cell_size     REAL,                           -- coordinates layouts: raster cell size
  cell_of_unit  BLOB NOT NULL,                  -- Int32 per unit
  x             BLOB NOT NULL,                  -- Float64 per unit
  y             BLOB NOT NULL,                  -- Float64 per unit
  PRIMARY KEY (model_id, layer)
);

ALTER TABLE layer_results ADD COLUMN log10q BLOB;   -- Float64 per unit; NULL in results stored before version 3

ALTER TABLE jobs ADD COLUMN progress_stage TEXT;   -- 'inference', 'statistics', 'permutations k/n', ...
ALTER TABLE jobs ADD COLUMN truncation TEXT;      -- JSON {maxTokens, sets: {setId: texts cut to maxTokens}} for text contrasts
