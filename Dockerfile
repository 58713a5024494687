# Plaza: one image for the API and the workers (PLAZA_ROLE picks which).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM node:24-bookworm-slim
# The dev mailbox (every email readable on a page) is a development tool: never on in the image.
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 PLAZA_DATA_DIR=/data PLAZA_DEV_MAILBOX=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY server ./server
COPY scripts/server-vendor.ts ./scripts/
COPY plugins ./plugins
COPY templates ./templates
COPY --from=build /app/web/dist ./web/dist
# The initialised PGlite cluster, with the core migrations applied, that a new embedded data
# folder is copied from, made while node_modules is still writable (the node user cannot write
# it at run time). Then the demo template (the same with the demo data, server/seed/template.ts)
# for the image's own settings: a first start with other settings seeds as before.
RUN node -e "Promise.all([import('./server/db/pglite-template.ts'), import('./server/modules/index.ts')]).then(([t, m]) => t.ensureTemplate(m.coreMigrationSources()))"
RUN node -e "Promise.all([import('./server/seed/template.ts'), import('./server/modules/index.ts'), import('./server/config.ts')]).then(([t, m, c]) => t.ensureDemoTemplate(c.loadConfig(), m.coreMigrationSources())).catch((e) => console.warn('no demo template: ' + e.message))"
# The server bundle (scripts/server-vendor.ts: the largest dependencies in a few files), made by
# the build stage's `npm run build` with rolldown (a devDependency), filed under the name this
# stage's install gives it (after its node_modules/.package-lock.json).
COPY --from=build /app/node_modules/.cache/plaza /tmp/plaza-cache
RUN node -e "import('./scripts/server-vendor.ts').then(({ vendorDir }) => { const fs = require('node:fs'); const built = fs.readdirSync('/tmp/plaza-cache').find((n) => n.startsWith('server-vendor-')); fs.cpSync('/tmp/plaza-cache/' + built, vendorDir(), { recursive: true }); fs.rmSync('/tmp/plaza-cache', { recursive: true }); })"
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Node 24 runs the TypeScript sources directly (type stripping); no build step for the server.
# server/start.js, as `npm start`: the compile cache on first, PGlite started early on a restart,
# and the server bundle above (without it the packages' own files load).
CMD ["node", "server/start.js"]
