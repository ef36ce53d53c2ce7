/* lora.h — low-rank adapters (LoRA) for the Llama-family model.
 *
 * Purpose: parameter-efficient fine-tuning (Hu et al. 2021; the Dromedary
 * paper fine-tunes with r = 16). For each targeted projection W [out, in]
 * of each layer the adapter adds a low-rank update:
 *
 *     y = x W^T + scale * (drop(x) A^T) B^T,   scale = alpha / rank,
 *
 * with A [rank, in] and B [out, rank], exactly as PEFT's LoraLayer
 * (lora_dropout applied to the adapter's input only; a separate dropout
 * mask per targeted module). Targets are the seven projections q, k, v, o,
 * gate, up, down. Initialisation is PEFT's default: A ~ U(-1/sqrt(in),
 * 1/sqrt(in)) (kaiming_uniform with a = sqrt(5)), B = 0, so a fresh
 * adapter leaves the model unchanged.
 *
 * Layout: every A and B lives in one fp32 allocation (storage,
 * storage_floats), layer-major, targets in enum order, A before B, so AdamW
 * moments, gradient clipping and checkpoints treat the adapter as one flat
 * vector, as they treat sa_model. Gradients of an adapter are another
 * sa_lora of the same configuration (sa_lora_init gives zeros).
 *
 * Rotary layout: A and B act in the loaded model's row order. When the base
 * model was read in the NORM rotary layout (llama2.c, GGUF), q and k rows
 * are permuted relative to Hugging Face; sa_lora_save_peft / load_peft
 * permute B's rows of q and k the way sa_model_save_hf permutes wq/wk, so a
 * PEFT adapter directory always matches the HF export of the base.
 *
 * Ownership: sa_lora owns its storage and layer table (sa_lora_free).
 *
 * Usage:
 *     sa_lora_config lc = {.rank = 16, .alpha = 32, .dropout = 0.05f, .targets = SA_LORA_TARGETS_ALL};
 *     sa_lora ad, grads;
 *     sa_lora_init(&ad, &m->cfg, &lc, &err); sa_lora_randomize(&ad, seed);
 *     sa_lora_init(&grads, &m->cfg, &lc, &err);
 *     ... training (model_train.h: sa_train_args.lora / lora_grads) ...
 *     sa_lora_save_peft(&ad, "out/adapter", "base-model-name", &err);
 *     sa_lora_merge(&ad, m);   // W += scale * B A; then sa_model_save_hf(m, ...)
 */
#ifndef SA_LORA_H
#define SA_LORA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sa/model.h"
#include "sa/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_lora_target {
    SA_LORA_Q = 0,
    SA_LORA_K,
    SA_LORA_V,
    SA_LORA_O,
    SA_LORA_GATE,
    SA_LORA_UP,
    SA_LORA_DOWN,
    SA_LORA_N_TARGETS
} sa_lora_target;

#define SA_LORA_TARGETS_ALL ((uint32_t)((1u << SA_LORA_N_TARGETS) - 1u))
#define SA_LORA_TARGETS_ATTN ((uint32_t)((1u << SA_LORA_Q) | (1u << SA_LORA_K) | (1u << SA_LORA_V) | (1u << SA_LORA_O)))

typedef struct sa_lora_config {
    int32_t rank;     /* r >= 1 */
    float alpha;      /* scale = alpha / rank */
    float dropout;    /* probability in [0, 1) on the adapter input; 0 = off */
    uint32_t targets; /* bit (1 << sa_lora_target) per targeted projection */
} sa_lora_config;

/* "q", "k", "v", "o", "gate", "up", "down" (PEFT module names are also
 * accepted: q_proj, ..., gate_proj, up_proj, down_proj). */
const char *sa_lora_target_name(sa_lora_target t);
/* Comma-separated list ("q,k,v,o" or "all") -> bit set; unknown names are
 * SA_ERR_INVALID_ARG naming the bad entry. */
sa_status sa_lora_targets_parse(const char *list, uint32_t *out, sa_err *err);

typedef struct sa_lora_pair {
    float *a; /* [rank, in], NULL when the target is not adapted */
    float *b; /* [out, rank] */
    int32_t in, out;
} sa_lora_pair;

typedef struct sa_lora {
    sa_lora_config cfg;
    sa_model_config mcfg; /* the model the adapter belongs to */
    float scale;          /* alpha / rank */
    sa_lora_pair *layers; /* [n_layers * SA_LORA_N_TARGETS], index l * SA_LORA_N_TARGETS + t */
    float *storage;
    size_t storage_floats;
} sa_lora;

/* Zeroed adapter for model config mcfg. Invalid rank/alpha/dropout/targets
 * are SA_ERR_INVALID_ARG. */
sa_status sa_lora_init(sa_lora *l, const sa_model_config *mcfg, const sa_lora_config *cfg, sa_err *err);
void sa_lora_free(sa_lora *l);
/* PEFT's default initialisation (see above), deterministic for a seed. */
void sa_lora_randomize(sa_lora *l, uint64_t seed);
/* The pair for (layer, target), or NULL when that target is not adapted. */
const sa_lora_pair *sa_lora_get(const sa_lora *l, int32_t layer, sa_lora_target t);
/* W += scale * B A for every adapted projection of m, the update summed in
 * double and rounded once. SA_ERR_INVALID_ARG when m's shapes or rotary
 * layout differ from the adapter's model config. */
sa_status sa_lora_merge(const sa_lora *l, sa_model *m, sa_err *err);

/* Write a PEFT adapter directory: adapter_config.json (peft_type LORA,
 * r, lora_alpha, lora_dropout, target_modules, base_model_name_or_path,
 * task_type CAUSAL_LM, bias none) and adapter_model.safetensors with F32
 * tensors "base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight"
 * (and lora_B; mlp.gate_proj etc.). The directory is created if needed;
 * adapter_model.safetensors, then adapter_config.json, each written
 * atomically (temp + fsync + rename). base_name may be NULL (""). */
sa_status sa_lora_save_peft(const sa_lora *l, const char *dir, const char *base_name, sa_err *err);
/* Read such a directory for a model of config mcfg (l is initialised here;
 * free it with sa_lora_free). Shapes, missing tensors and unsupported
 * options (bias, use_rslora, use_dora, non-LoRA types) are errors naming
 * the file and tensor. Also accepted: F16/BF16 tensors (converted to fp32),
 * target_modules "all-linear" or names with a module path prefix
 * ("self_attn.q_proj"). Also refused: fan_in_fan_out, rank_pattern,
 * alpha_pattern, layers_to_transform, modules_to_save, and any tensor in
 * the file that is not a declared LoRA matrix. Only the shapes and rotary
 * layout of mcfg matter (an HF export of a NORM-layout model loads as NEOX,
 * and the adapter follows it). */
sa_status sa_lora_load_peft(sa_lora *l, const char *dir, const sa_model_config *mcfg, sa_err *err);

#ifdef __cplusplus
}
#endif
#endif
