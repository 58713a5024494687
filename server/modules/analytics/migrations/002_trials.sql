-- Free trials of paid installs per app and day: started on the day the trial
-- began, ended/converted on the day its outcome was known (trial.ended).
CREATE TABLE analytics_trial_days (
  app_id text NOT NULL,
  day date NOT NULL,
  started int NOT NULL DEFAULT 0,
  ended int NOT NULL DEFAULT 0,
  converted int NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, day)
);
