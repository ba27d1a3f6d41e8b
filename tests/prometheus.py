"""Reading /metrics as a scraper does: the Prometheus text format, parsed by prometheus-client."""

from prometheus_client.parser import text_string_to_metric_families


class Samples(dict):
    """{(sample name, frozenset of label pairs): value} of one scrape."""

    def get_value(self, name: str, **labels) -> float:
        """A sample's value; 0 for one the scrape did not have (a counter not yet counted)."""
        return self.get((name, frozenset(labels.items())), 0.0)

    def since(self, before: "Samples"):
        """change(name, **labels): how much a sample grew from `before` to this scrape."""
        return lambda name, **labels: (
            self.get_value(name, **labels) - before.get_value(name, **labels)
        )

    def labels_of(self, name: str) -> list[dict]:
        return [dict(labels) for (sample, labels) in self if sample == name]


def parse(text: str) -> Samples:
    return Samples(
        ((sample.name, frozenset(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    )


def scrape(client, **extra) -> Samples:
    """GET /metrics with the Django test client (from 127.0.0.1, which may read it)."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    return parse(response.content.decode())
