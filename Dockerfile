# The bot. Build: docker build -t persona-bot . (the trainer has its own Dockerfile in trainer/)
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production HEALTH_PORT=8080 DATA_DIR=/data
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/persona-data ./persona-data
# The trainer contract's JSON Schema and the hyperparameter presets, where dist/ looks for them.
COPY --from=build /app/trainer/schema ./dist/trainer/schema
COPY --from=build /app/trainer/presets ./dist/trainer/presets
COPY package.json ./
USER node
VOLUME /data
HEALTHCHECK --interval=15s --timeout=5s --retries=5 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
CMD ["node", "dist/bot/main.js"]
