"""`HuggingFaceFileIO`: push a model to the Hugging Face Hub, write its model card, search the Hub.

The Hub is a thin contract over `save_to`: the model is saved into a temporary folder (one
`<name>.nemo`, or the unpacked files) next to a `README.md`, and uploaded in one commit.
Loading back is `from_pretrained("<org>/<name>")` (see `nemo.utils.hf_hub`).
"""

import copy
import os
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Union


class HuggingFaceFileIO:
    """Hub methods for model classes; needs `save_to` (and `cfg`/`parameters` for the card)."""

    @classmethod
    def get_hf_model_filter(cls) -> Dict[str, Any]:
        """The default search filter: NeMo models, newest first. Edit the keys, then pass it to
        `search_huggingface_models`. Keys: author, library, language, model_name, task, tags,
        limit, full, cardData."""
        return dict(
            author=None, library="nemo", language=None, model_name=None, task=None, tags=None,
            limit=None, full=None, cardData=False,
        )

    @classmethod
    def search_huggingface_models(cls, model_filter: Optional[Union[Dict[str, Any], List[Dict[str, Any]]]] = None) -> List[Any]:
        """Models on the Hub matching `model_filter` (default `get_hf_model_filter()`), as a list of
        `huggingface_hub.ModelInfo`; restore one with `ModelPT.from_pretrained(info.id)`.

        The filter keys are mapped onto today's `HfApi.list_models`: library/language/tags go into
        `filter=`, `model_name` into `search=`, `task` into `pipeline_tag=`. Several filters (a list)
        are searched in turn and the results concatenated without duplicates.
        """
        from huggingface_hub import HfApi

        from nemo.utils import hf_hub

        filters = model_filter if isinstance(model_filter, list) else [model_filter or cls.get_hf_model_filter()]
        api = HfApi(endpoint=hf_hub.endpoint(), token=hf_hub.token())
        seen, results = set(), []
        for flt in filters:
            kwargs = _list_models_kwargs(flt)
            with hf_hub.translate_hub_errors("<search>", action="search"):
                for info in api.list_models(**kwargs):
                    if info.id not in seen:
                        seen.add(info.id)
                        results.append(info)
        return results

    def generate_model_card(self, type: str = "hf", template: Optional[str] = None, template_kwargs: Optional[Dict[str, Any]] = None):
        """A `huggingface_hub.ModelCard` describing this model.

        The default template (ours) gives the architecture from the config, the parameter count,
        how to load the model with this package, and `template_kwargs["metrics"]` (a dict or text)
        when given; its front matter has `library_name: nemo`, tags and a license
        (`template_kwargs["license"]`, default cc-by-4.0). A custom `template` is filled by
        replacing each `{key}` with `template_kwargs[key]` or a default value
        (model_name, repo_id, class_name, model_class, model_import, num_parameters, architecture,
        metrics, license, card_data); other braces stay as written.
        """
        from nemo.utils.model_card import generate_model_card

        return generate_model_card(self, type=type, template=template, template_kwargs=template_kwargs)

    def push_to_hf_hub(
        self,
        repo_id: str,
        *,
        pack_nemo_file: bool = True,
        model_card: Optional[Any] = None,
        commit_message: str = "Push model using huggingface_hub.",
        private: bool = False,
        api_endpoint: Optional[str] = None,
        token: Optional[str] = None,
        branch: Optional[str] = None,
        allow_patterns: Optional[Union[List[str], str]] = None,
        ignore_patterns: Optional[Union[List[str], str]] = None,
        delete_patterns: Optional[Union[List[str], str]] = None,
    ) -> str:
        """Save the model and upload it to Hub repo `repo_id` (created if missing) in one commit.

        `pack_nemo_file=True` uploads `<name>.nemo` + `README.md`; `False` uploads the unpacked
        files (`model_config.yaml`, `model_weights.ckpt`, artifacts) + `README.md`, for models too
        big for one file. Either way `from_pretrained(repo_id)` loads it back; the choice applies to
        this push only. `model_card` is any object (its `str()` is used; in a plain string
        `{model_name}` and `{repo_id}` are filled in); None generates one. Returns the repo's tree
        URL on the endpoint used.
        """
        from huggingface_hub import HfApi

        from nemo.utils import hf_hub

        hf_hub.validate_repo_id(repo_id)
        from nemo.utils.download import DownloadError, is_offline

        if is_offline():
            raise DownloadError(
                f"push_to_hf_hub({repo_id!r}) needs the network, but offline mode is on (HF_HUB_OFFLINE/NEMO_OFFLINE); "
                "unset it to push, or save_to() a file now and push it later."
            )
        endpoint = hf_hub.endpoint(api_endpoint)
        token = hf_hub.token(token)
        api = HfApi(endpoint=endpoint, token=token, library_name="nemo", library_version=hf_hub._library_version())
        with hf_hub.translate_hub_errors(repo_id, action="push"):
            repo_id = api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model").repo_id
            if branch:
                api.create_branch(repo_id=repo_id, branch=branch, exist_ok=True, repo_type="model")
        model_name = repo_id.split("/")[1]
        card_kwargs = {"model_name": " ".join(w.capitalize() for w in model_name.replace("_", " ").split()), "repo_id": repo_id}
        if model_card is None:
            card_text = str(self.generate_model_card(type="hf", template_kwargs=card_kwargs))
        elif isinstance(model_card, str):
            from nemo.utils.model_card import fill

            card_text = fill(model_card, card_kwargs)
        else:
            card_text = str(model_card)
        with tempfile.TemporaryDirectory(prefix="nemo_hf_push_") as tmp:
            folder = os.path.join(tmp, model_name)
            os.makedirs(folder)
            self._save_for_hub(os.path.join(folder, f"{model_name}.nemo"), pack_nemo_file)
            with open(os.path.join(folder, "README.md"), "w", encoding="utf-8", errors="ignore") as f:
                f.write(card_text)
            with hf_hub.translate_hub_errors(repo_id, action="push"):
                api.upload_folder(
                    repo_id=repo_id, folder_path=folder, repo_type="model", revision=branch,
                    commit_message=commit_message, allow_patterns=allow_patterns,
                    ignore_patterns=ignore_patterns, delete_patterns=delete_patterns,
                )
        return f"{endpoint}/{repo_id}/tree/{branch or 'main'}"

    def _save_for_hub(self, path: str, pack_nemo_file: bool) -> None:
        """`save_to(path)` with a copy of the connector set to `pack_nemo_file`, so the model's own
        connector (and later `save_to` calls) are unaffected."""
        connector = getattr(self, "_save_restore_connector", None)
        if connector is None:
            if not pack_nemo_file:
                raise ValueError(f"{type(self).__name__} has no save/restore connector: pack_nemo_file=False is unsupported")
            self.save_to(path)
            return
        temporary = copy.copy(connector)
        temporary.pack_nemo_file = pack_nemo_file
        self._save_restore_connector = temporary
        try:
            self.save_to(path)
        finally:
            self._save_restore_connector = connector


def _list_models_kwargs(flt: Dict[str, Any]) -> Dict[str, Any]:
    """NeMo's filter dict -> keyword arguments of the current `HfApi.list_models`."""
    known = {"author", "library", "language", "model_name", "task", "tags", "limit", "full", "cardData", "sort", "search"}
    unknown = set(flt) - known
    if unknown:
        raise ValueError(f"search_huggingface_models: unknown filter keys {sorted(unknown)}; allowed: {sorted(known)}")
    tags: List[str] = []
    for key in ("library", "language", "tags"):
        value = flt.get(key)
        if value:
            tags.extend([value] if isinstance(value, str) else list(value))
    kwargs: Dict[str, Any] = {"sort": flt.get("sort") or "last_modified"}
    if tags:
        kwargs["filter"] = tags
    if flt.get("author"):
        kwargs["author"] = flt["author"]
    search = flt.get("search") or flt.get("model_name")
    if search:
        kwargs["search"] = search
    if flt.get("task"):
        kwargs["pipeline_tag"] = flt["task"]
    if flt.get("limit"):
        kwargs["limit"] = int(flt["limit"])
    if flt.get("full"):
        kwargs["full"] = True
    if flt.get("cardData"):
        kwargs["cardData"] = True
    return kwargs


__all__: Iterable[str] = ["HuggingFaceFileIO"]
