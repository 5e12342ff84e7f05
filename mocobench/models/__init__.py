"""The networks: MoCo (queue, momentum encoder, shuffle BN), end-to-end, encoders and BatchNorm variants."""
