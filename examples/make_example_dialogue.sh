#!/usr/bin/env bash
# Re-creates examples/dialogue.flac: a 16-second two-voice dialogue (espeak-ng + sox), with
# turns, pauses and one backchannel ("mm-hmm") of the listener during the other's turn.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
say() { espeak-ng -v "$1" -p "$2" -s "$3" -w "$tmp/$4.wav" "$5"; sox "$tmp/$4.wav" -r 16000 -c 1 "$tmp/$4r.wav"; }
say en-us+m3 35 160 a1 "Did you finish the drawings for the new library? The client called twice this morning."
say en-gb+f2 70 170 b1 "Almost. I still have to fix the stairs on the second floor."
say en-us+m3 35 160 a2 "Good. Send me what you have tonight, and I will look at it tomorrow."
say en-gb+f2 70 170 bc "mm-hmm"
say en-gb+f2 70 170 b2 "I will. Thanks for waiting."
# person A: turns at 0.3 s and 9.2 s; person B: turn at 6.0 s, backchannel at 11.0 s, turn at 13.7 s
sox "$tmp/a1r.wav" "$tmp/a_1.wav" pad 0.3
sox "$tmp/b1r.wav" "$tmp/b_1.wav" pad 6.0
sox "$tmp/a2r.wav" "$tmp/a_2.wav" pad 9.2
sox "$tmp/bcr.wav" "$tmp/b_bc.wav" pad 11.0
sox "$tmp/b2r.wav" "$tmp/b_2.wav" pad 13.7
sox -m "$tmp/a_1.wav" "$tmp/b_1.wav" "$tmp/a_2.wav" "$tmp/b_bc.wav" "$tmp/b_2.wav" -r 16000 -c 1 dialogue.flac norm -3
soxi -D dialogue.flac
