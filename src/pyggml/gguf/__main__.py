"""`python -m pyggml.gguf FILE`: same as pyggml-gguf-dump."""
from .dump import main

raise SystemExit(main())
