-- Per-organization settings of plugins (ctx.settings). Owned by the plugin host, not by a plugin:
-- a plugin's own tables carry its prefix. Rows stay when a plugin is turned off, so turning it
-- back on finds its settings again.
CREATE TABLE plaza_plugin_settings (
  organization_id text NOT NULL,
  plugin text NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text,
  PRIMARY KEY (organization_id, plugin)
);
