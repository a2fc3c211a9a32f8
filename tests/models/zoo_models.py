"""Model definitions for the PyTorch oracle zoo (see make_zoo.py).

Each entry of MODELS maps a name to a function returning (module, inputs) where inputs is an
ordered dict {onnx_input_name: torch.Tensor}. Shapes are small so a naive executor runs each
model in about a second.
"""

import collections
import math

import torch
from torch import nn
import torch.nn.functional as F


def _image(channels, size):
    return torch.randn(1, channels, size, size)


# --- bundled demo model --------------------------------------------------------------------


class TinyCnn(nn.Module):
    """conv-bn-relu x2, maxpool, global avgpool, linear (~50k parameters)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 160, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(160)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(160, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        return self.fc(torch.flatten(self.avg(x), 1))


# --- small BERT-style encoder ------------------------------------------------------------------


class EncoderLayer(nn.Module):
    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(hidden // heads)
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn_in = nn.Linear(hidden, ffn)
        self.ffn_out = nn.Linear(ffn, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-12)

    def _split(self, x):
        b, s, h = x.shape
        return x.reshape(b, s, self.heads, h // self.heads).permute(0, 2, 1, 3)

    def forward(self, x, additive_mask):
        b, s, h = x.shape
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        probs = torch.softmax(scores + additive_mask, dim=-1)
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(b, s, h)
        x = self.attn_norm(x + self.attn_out(context))
        y = self.ffn_out(F.gelu(self.ffn_in(x)))  # exact erf GELU
        return self.ffn_norm(x + y)


class BertTiny(nn.Module):
    """Token + position embeddings, 2 encoder layers, tied LM head and a tanh pooler."""

    def __init__(self, vocab=128, max_len=32, hidden=64, heads=4, layers=2, ffn=128):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(max_len, hidden)
        self.embed_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)
        self.lm_transform = nn.Linear(hidden, hidden)
        self.lm_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.lm_bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, input_ids, attention_mask):
        seq = input_ids.shape[1]
        positions = torch.arange(seq, dtype=torch.int64).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        x = self.embed_norm(x)
        additive = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * -10000.0
        for layer in self.layers:
            x = layer(x, additive)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        h = self.lm_norm(F.gelu(self.lm_transform(x)))
        # Tied head: the word embedding table is used again (transposed) as the output projection.
        logits = torch.matmul(h, self.word_embeddings.weight.t()) + self.lm_bias
        return logits, pooled


def _bert_inputs():
    ids = torch.randint(1, 128, (1, 16), dtype=torch.int64)
    mask = torch.ones(1, 16, dtype=torch.int64)
    mask[0, 12:] = 0
    return collections.OrderedDict(input_ids=ids, attention_mask=mask)


# --- unseen extras ----------------------------------------------------------------------------


class UNetBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.GroupNorm(groups, cout)

    def forward(self, x):
        return F.silu(self.norm(self.conv(x)))


class TinyUNet(nn.Module):
    """Two-level UNet: GroupNorm, SiLU, ConvTranspose, nearest + bilinear Resize, skip Concat."""

    def __init__(self):
        super().__init__()
        self.enc1 = UNetBlock(3, 16, 4)
        self.enc2 = UNetBlock(16, 32, 8)
        self.mid = UNetBlock(32, 32, 8)
        self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec2 = UNetBlock(32, 16, 4)
        self.dec1 = UNetBlock(16 + 16, 16, 4)
        self.head = nn.Conv2d(16, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)                                   # 16 x 32 x 32
        e2 = self.enc2(F.max_pool2d(e1, 2))                 # 32 x 16 x 16
        m = self.mid(F.avg_pool2d(e2, 2))                   # 32 x 8 x 8
        skip = e2[:, :16] + F.interpolate(m[:, 16:], scale_factor=2.0, mode="nearest")
        d2 = self.dec2(torch.cat([self.up2(m), skip], dim=1))  # ConvTranspose: 8 -> 16
        d2 = F.interpolate(d2, scale_factor=2.0, mode="bilinear", align_corners=False)
        d1 = self.dec1(torch.cat([d2, e1], dim=1))
        return torch.sigmoid(self.head(d1))


class ViTBlock(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5, dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x)), approximate="tanh"))


class TinyViT(nn.Module):
    """Patch conv, cls token Concat, learned position embedding, softmax attention."""

    def __init__(self, dim=48, heads=3, depth=2, patch=4, image=32, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
        self.blocks = nn.ModuleList(ViTBlock(dim, heads, 2 * dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return torch.log_softmax(self.head(self.norm(x)[:, 0]), dim=-1)


class ActivationMlp(nn.Module):
    """An MLP whose layers each use a different activation."""

    def __init__(self, width=64):
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(32 if i == 0 else width, width) for i in range(7))
        self.prelu = nn.PReLU(width)
        self.out = nn.Linear(width, 8)

    def forward(self, x):
        f = self.fcs
        x = F.hardswish(f[0](x))
        x = F.leaky_relu(f[1](x), 0.1)
        x = F.elu(f[2](x), alpha=0.8)
        x = F.softplus(f[3](x))
        x = torch.clamp(f[4](x), -0.5, 0.75)
        x = F.hardsigmoid(f[5](x)) * torch.tanh(x)
        x = self.prelu(f[6](x))
        # Sharpened so the probabilities are far from uniform and errors show.
        return torch.softmax(self.out(x) * 8.0, dim=-1)


class TinyMisc(nn.Module):
    """1-D convs, depthwise conv, padding, reductions and element-wise math."""

    def __init__(self, channels=16):
        super().__init__()
        self.conv_in = nn.Conv1d(4, channels, 5, padding=2)
        self.depthwise = nn.Conv1d(channels, channels, 3, padding=2, dilation=2, groups=channels)
        self.bn = nn.BatchNorm1d(channels)
        self.pointwise = nn.Conv1d(channels, 2 * channels, 1, stride=2)
        self.gate = nn.Linear(2 * channels, 2 * channels)

    def forward(self, x):
        x = F.relu6(self.conv_in(F.pad(x, (1, 1), mode="reflect")))
        x = self.bn(self.depthwise(x))
        x = self.pointwise(x)
        mean = x.mean(dim=2, keepdim=True)
        std = torch.sqrt(((x - mean) ** 2).mean(dim=2, keepdim=True) + 1e-5)
        x = (x - mean) / std
        g = torch.sigmoid(self.gate(x.amax(dim=2)))
        x = x * g.unsqueeze(-1)
        return torch.where(x > 0, x, torch.exp(x) - 1.0), x.abs().sum(dim=(1, 2))


def _tv(name):
    import torchvision  # Imported lazily: only the torchvision models need it.
    return getattr(torchvision.models, name)(weights=None)


def _single(name, tensor):
    return collections.OrderedDict([(name, tensor)])


# name -> (builder returning (module, inputs), output names)
MODELS = collections.OrderedDict([
    ("tiny_cnn", (lambda: (TinyCnn(), _single("input", _image(3, 32))), ["logits"])),
    ("resnet18", (lambda: (_tv("resnet18"), _single("input", _image(3, 224))), ["logits"])),
    ("mobilenet_v2", (lambda: (_tv("mobilenet_v2"), _single("input", _image(3, 224))),
                      ["logits"])),
    ("bert_tiny", (lambda: (BertTiny(), _bert_inputs()), ["logits", "pooled"])),
    ("tiny_unet", (lambda: (TinyUNet(), _single("input", _image(3, 32))), ["mask"])),
    ("tiny_vit", (lambda: (TinyViT(), _single("input", _image(3, 32))), ["log_probs"])),
    ("mlp_acts", (lambda: (ActivationMlp(), _single("input", torch.randn(4, 32))), ["probs"])),
    ("tiny_misc", (lambda: (TinyMisc(), _single("signal", torch.randn(2, 4, 40))),
                   ["features", "energy"])),
    # Benchmarks only (bench/run_refit.sh), not in the e2e suite: a transformer large enough
    # (17 M parameters, 68 MB) that refit and file sizes are about bandwidth, not fixed costs.
    ("bert_small", (lambda: (BertTiny(vocab=8192, max_len=64, hidden=512, heads=8, layers=4,
                                      ffn=2048), _bert_inputs()), ["logits", "pooled"])),
])
