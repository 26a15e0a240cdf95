"""Measuring quantization levels: speed (llama-bench style), quality against the reference
(perplexity, KL divergence, same top token), and the comparison that runs both per file.

Entry points: :func:`desktop.engine.measure.level_comparison.compare_files`,
:func:`desktop.engine.measure.speed.measure_speed`,
:func:`desktop.engine.measure.quality.measure_quality` and, for showing saved figures,
:func:`desktop.engine.measure.results_cache.load_cached_results`.
"""
