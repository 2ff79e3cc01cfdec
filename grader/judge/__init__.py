"""The judge: computes every graded fact from what the sandboxed child observed, without running student Python."""
