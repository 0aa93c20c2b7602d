#!/bin/sh
# Regenerates the IVR prompts from texts.txt: one 8 kHz, 16-bit, mono WAV per
# line, spoken by espeak-ng (German voice) and converted by sox. The WAV files
# are committed, so running the hub needs neither tool. Run via `go generate
# ./connectors/hotline/` or directly from this folder.
set -eu
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null || { echo "generate.sh: espeak-ng is not installed (apt-get install espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "generate.sh: sox is not installed (apt-get install sox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f ./*.wav
grep -v '^#' texts.txt | grep -v '^$' | while IFS='|' read -r id text; do
	espeak-ng -v de -s 150 -w "$tmp/$id.wav" "$text"
	# Trim leading and trailing silence so joined prompts flow, then convert.
	sox -D "$tmp/$id.wav" -r 8000 -c 1 -b 16 "$id.wav" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.08
done
echo "generate.sh: $(ls ./*.wav | wc -l) prompts"
