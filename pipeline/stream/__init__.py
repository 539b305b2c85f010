"""The Faust worker: app and agents, the processor (decode, match, store), offsets and retry."""
