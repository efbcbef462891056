"""Command-line tools with llama.cpp's flag names: `pyggml-cli` (main.py) and
`pyggml-perplexity` (perplexity.py); timings.py prints llama.cpp-shaped performance lines."""
