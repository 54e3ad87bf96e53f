# kanaria's controller image for Docker users: the same layout as `make image` (image/build.sh),
# which builds it without a Docker engine. Node 24 comes from the npm `node` package, the shared
# libraries from Debian bookworm, the app is the bundled controller (dist/bundle, image/bundle.config.mjs)
# and package.json: no node_modules.
#   docker build -t kanaria:0.1.0 .
FROM debian:bookworm-slim AS build
RUN apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# Installs every dependency, including the `node` package whose binary (Node 24) goes into the image.
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY image/bundle.config.mjs ./image/
COPY src ./src
RUN PATH="/src/node_modules/node/bin:$PATH" npm run build \
    && node_modules/node/bin/node --version | grep -q '^v24\.'
WORKDIR /app
RUN mkdir dist && cp /src/package.json ./ && cp -r /src/dist/bundle ./dist/bundle
RUN mkdir -p /rootfs/usr/local/bin /rootfs/etc /rootfs/tmp /rootfs/home/nonroot /debs \
    && cp -a /app /rootfs/app && install -m 0755 /src/node_modules/node/bin/node /rootfs/usr/local/bin/node \
    && apt-get update -q && cd /debs && apt-get download -q libc6 libgcc-s1 libstdc++6 \
    && for d in /debs/*.deb; do dpkg-deb -x "$d" /rootfs; done \
    && rm -rf /rootfs/usr/share/doc /rootfs/usr/share/lintian /rootfs/usr/share/locale /rootfs/usr/share/gcc \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/rootfs/etc/passwd \
    && printf 'root:x:0:\nnonroot:x:65532:\n' >/rootfs/etc/group \
    && chmod 1777 /rootfs/tmp && chown 65532:65532 /rootfs/home/nonroot

FROM scratch
COPY --from=build /rootfs/ /
# glibc makes a malloc arena per thread; two keep the RSS of a Node process from growing with
# fragmentation under bursts (200 Canaries released at once: 264 -> 127 MiB steady in `make bench`).
ENV NODE_ENV=production HOME=/home/nonroot MALLOC_ARENA_MAX=2
# V8 grows the young generation to 128 MiB under a release burst although the live heap stays under
# 90 MiB; small semi-spaces cap it (`make bench`, 200 Canaries released at once, kanaria alone: peak
# RSS 239 -> 155 MiB with 8 MiB ones, release CPU 15.5 core-s either way). V8's memory saver mode
# trades speed for a heap kept nearer its live set (idle: 27 MiB committed for 24 live, against 43
# for 23.5) and less private memory outside it: steady / peak RSS 129 / 169 -> 96 / 105 MiB,
# RssAnon 76 / 116 -> 42 / 51, for 10.2 -> 13.0 core-s of release CPU (three runs side by side,
# 2026-12-03). make bench reads these flags.
USER 65532:65532
WORKDIR /app
LABEL org.opencontainers.image.title=kanaria org.opencontainers.image.licenses=Apache-2.0
ENTRYPOINT ["/usr/local/bin/node", "--max-semi-space-size=2", "--memory-saver-mode", "/app/dist/bundle/main.js", "controller"]
