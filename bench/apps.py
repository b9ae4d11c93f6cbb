from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The load generator's app: it holds ``manage.py chatbench`` and no models."""

    name = "bench"
    verbose_name = "Benchmark"
