"""Model cards for the Hugging Face Hub: our default template and `{placeholder}` filling.

Placeholders are replaced by plain text substitution of `{key}` (not `str.format`), so braces
that are not a known key stay as written. The values a template can use are the caller's
`template_kwargs` over the defaults computed from the model (see `card_values`).
"""

from typing import Any, Dict, Optional

DEFAULT_LICENSE = "cc-by-4.0"

_PIPELINE_TAGS = {
    "asr": "automatic-speech-recognition",
    "tts": "text-to-speech",
    "nlp": "text-classification",
}

DEFAULT_MODEL_CARD_TEMPLATE = """---
{card_data}
---

# {model_name}

{description}

## How to use this model

Install this package, then load the model by its Hub id; the files are cached after the first
download, so later loads work offline (`HF_HUB_OFFLINE=1`):

```python
{model_import}

model = {class_name}.from_pretrained("{repo_id}")
```

`{class_name}.from_pretrained(..., return_config=True)` returns the model's configuration without
building it, and `override_config_path=` restores with a changed configuration.

## Model architecture

`{model_class}` with {num_parameters} parameters ({num_parameters_exact}).

{architecture}

## Evaluation

{metrics}

## Limitations

The model reflects the data it was trained on; evaluate it on your own data before relying on it.

## License

{license_text}
"""


def _format_count(n: int) -> str:
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _architecture(cfg) -> str:
    """Bullet list of the config's module sections (`_target_`) and a few scalar settings."""
    from omegaconf import DictConfig, OmegaConf

    if cfg is None:
        return "No configuration is attached to this model."
    lines = []
    container = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    for key, value in container.items():
        if isinstance(value, dict) and isinstance(value.get("_target_"), str):
            name = value["_target_"].rsplit(".", 1)[-1]
            details = [f"{k}={v}" for k, v in value.items() if k != "_target_" and isinstance(v, (int, float, str, bool))][:4]
            lines.append(f"- **{key}**: `{name}`" + (f" ({', '.join(details)})" if details else ""))
    for key in ("sample_rate", "vocab_size", "num_classes"):
        if isinstance(container.get(key), (int, float)):
            lines.append(f"- **{key}**: {container[key]}")
    labels = container.get("labels")
    if isinstance(labels, list):
        lines.append(f"- **labels**: {len(labels)} symbols")
    return "\n".join(lines) or "See `model_config.yaml` in this repository for the full configuration."


def _metrics(metrics: Any) -> str:
    if metrics is None or metrics == {}:
        return "No evaluation results were provided with this model."
    if isinstance(metrics, dict):
        rows = "\n".join(f"| {k} | {v} |" for k, v in metrics.items())
        return "| Metric | Value |\n|---|---|\n" + rows
    return str(metrics)


def card_values(model, template_kwargs: Optional[Dict[str, Any]] = None) -> Dict[str, str]:
    """Default placeholder values for `model`, overridden by `template_kwargs` (not mutated)."""
    kwargs = dict(template_kwargs or {})
    cls = type(model)
    module = cls.__module__
    collection = module.split(".")[2] if module.startswith("nemo.collections.") else None
    license_id = str(kwargs.get("license", DEFAULT_LICENSE))
    tags = ["pytorch", "NeMo"] + [t for t in kwargs.get("tags", []) or [] if t not in ("pytorch", "NeMo")]
    if collection in _PIPELINE_TAGS and _PIPELINE_TAGS[collection] not in tags:
        tags.append(_PIPELINE_TAGS[collection])
    try:
        n_params = sum(p.numel() for p in model.parameters())
    except Exception:  # not an nn.Module
        n_params = 0
    repo_id = str(kwargs.get("repo_id", "<org>/<model-name>"))
    name = kwargs.get("model_name") or repo_id.rsplit("/", 1)[-1].replace("_", " ")
    values = {
        "model_name": str(name),
        "repo_id": repo_id,
        "description": f"A NeMo `{cls.__name__}` model.",
        "model_class": f"{module}.{cls.__qualname__}",
        "class_name": cls.__name__,
        "model_import": f"from {module} import {cls.__name__}",
        "num_parameters": _format_count(n_params),
        "num_parameters_exact": f"{n_params:,}",
        "architecture": _architecture(getattr(model, "cfg", None)),
        "metrics": _metrics(kwargs.get("metrics")),
        "license": license_id,
        "license_text": f"This model is released under the `{license_id}` license.",
    }
    if "card_data" not in kwargs:
        values["card_data"] = card_data_yaml(license_id, tags, _PIPELINE_TAGS.get(collection), kwargs.get("metrics"))
    for key, value in kwargs.items():
        if key in ("metrics", "tags"):
            continue
        values[key] = str(value)
    return values


def card_data_yaml(license_id: str, tags, pipeline_tag: Optional[str], metrics: Any = None) -> str:
    """Hub front matter (without the `---` lines): library_name, tags, license, pipeline_tag."""
    from huggingface_hub import ModelCardData

    data = ModelCardData(library_name="nemo", tags=list(tags), license=license_id, pipeline_tag=pipeline_tag)
    return data.to_yaml()


def fill(template: str, values: Dict[str, Any]) -> str:
    """Replace each `{key}` in `template` with `values[key]`; other braces are left alone."""
    text = template
    for key, value in values.items():
        text = text.replace("{" + str(key) + "}", str(value))
    return text


def generate_model_card(model, type: str = "hf", template: Optional[str] = None, template_kwargs: Optional[Dict[str, Any]] = None):
    """A `huggingface_hub.ModelCard` for `model` from `template` (default: ours)."""
    if type != "hf":
        raise ValueError(f"Model card type {type} not supported. Use type='hf'.")
    if template is not None and not isinstance(template, str):
        raise TypeError(f"generate_model_card: template must be a str, got {template.__class__.__name__}")
    from huggingface_hub import ModelCard

    if template is None:
        template = DEFAULT_MODEL_CARD_TEMPLATE
    elif not template.lstrip("\ufeff").startswith("---"):
        # Give custom cards the Hub metadata too (library_name: nemo makes them findable by
        # search_huggingface_models); without it ModelCard would write an empty `{}` block.
        template = "---\n{card_data}\n---\n" + template
    text = fill(template, card_values(model, template_kwargs))
    return ModelCard(text, ignore_metadata_errors=True)
