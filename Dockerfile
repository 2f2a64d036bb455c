# ringdht in a container: `docker build -t ringdht .`, then
#   docker run --rm -p 7401:7401 ringdht
# runs a node that starts a network of its own. Configuration comes from
# RINGDHT_<KEY> environment variables (or flags after `node`, or a file with
# `node -c FILE`). The P2P address is the node's identity and must be the
# address the other nodes reach it at: unless RINGDHT_P2P_ADDRESS is set, the
# container's own IP address with port 6501. compose.yaml runs a 5-node ring.

# --- build: dev dependencies, compile, pack the same tarball `npm pack` gives ---
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# `npm pack` runs `prepare` (the build) and packs dist/src with package.json.
RUN npm pack --pack-destination /tmp && mv /tmp/ringdht-*.tgz /tmp/ringdht.tgz

# --- runtime: production dependencies and dist only, as a global install ---
FROM node:20-slim
ENV NODE_ENV=production
COPY --from=build /tmp/ringdht.tgz /tmp/ringdht.tgz
RUN npm install --global /tmp/ringdht.tgz --omit=dev --no-audit --no-fund \
  && rm /tmp/ringdht.tgz && npm cache clean --force \
  && mkdir -p /var/lib/ringdht && chown node:node /var/lib/ringdht
USER node
WORKDIR /home/node
ENV RINGDHT_API_ADDRESS=0.0.0.0:7401 \
  RINGDHT_HTTP_ADDRESS=0.0.0.0:7480 \
  RINGDHT_DATA_DIR=/var/lib/ringdht \
  RINGDHT_LOG_FORMAT=json
VOLUME ["/var/lib/ringdht"]
# API, P2P, admin HTTP.
EXPOSE 7401 6501 7480
ENTRYPOINT ["/bin/sh", "-c", "export RINGDHT_P2P_ADDRESS=\"${RINGDHT_P2P_ADDRESS:-$(hostname -i | cut -d ' ' -f 1):6501}\"; exec ringdht \"$@\"", "ringdht"]
CMD ["node"]
