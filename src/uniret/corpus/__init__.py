"""Knowledge source in, passages out: KILT page reader, 100-word chunking, passage store."""
