# The serving benchmark's image for the limit row: the example's predict image plus Debian's
# uvicorn, uvloop and httptools, the fastest Python HTTP server packaged for it. Bench only: the
# predict images themselves serve with gunicorn from the builder image.
ARG PREDICT_IMAGE
FROM ${PREDICT_IMAGE}
USER root
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3-uvicorn python3-uvloop python3-httptools >/dev/null \
 && rm -rf /var/lib/apt/lists/*
