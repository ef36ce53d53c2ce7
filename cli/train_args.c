/* train_args.c — see train_args.h. */
#include "train_args.h"

#include <strings.h>

bool cli_train_apply(const cli_args *a, const char *cmd, sa_train_opts *o) {
    if (cli_is_set(a, "lora") && cli_flag(a, "full")) {
        cli_error("%s: --lora and --full exclude each other", cmd);
        return false;
    }
    if (cli_is_set(a, "steps") && cli_is_set(a, "epochs")) {
        cli_error("%s: give --epochs or --steps, not both", cmd);
        return false;
    }
    const char *tr = cli_str(a, "truncate");
    if (strcasecmp(tr, "skip") != 0 && strcasecmp(tr, "right") != 0) {
        cli_error("%s: --truncate must be skip or right, not '%s'", cmd, tr);
        return false;
    }
    sa_err err = {0};
    sa_status s = SA_OK;
    o->trunc = strcasecmp(tr, "right") == 0 ? SA_SFT_TRUNC_RIGHT : SA_SFT_TRUNC_SKIP;
    o->fail_on_bad = cli_flag(a, "fail-on-bad");
    o->seq_len = (int32_t)cli_int(a, "seq-len");
    o->eval_frac = cli_float(a, "eval-frac");
    o->bucket = !cli_flag(a, "no-bucket");
    o->lora.rank = 0;
    if (cli_is_set(a, "lora")) {
        o->lora.rank = (int32_t)cli_int(a, "lora");
        o->lora.alpha = cli_is_set(a, "lora-alpha") ? (float)cli_float(a, "lora-alpha") : 0.0f;
        o->lora.dropout = (float)cli_float(a, "lora-dropout");
        s = sa_lora_targets_parse(cli_str(a, "lora-targets"), &o->lora.targets, &err);
    }
    o->dropout = (float)cli_float(a, "dropout");
    o->epochs = cli_int(a, "epochs");
    o->steps = cli_is_set(a, "steps") ? cli_int(a, "steps") : 0;
    o->batch = (int32_t)cli_int(a, "batch");
    o->grad_accum = (int32_t)cli_int(a, "grad-accum");
    o->deterministic = cli_flag(a, "deterministic");
    if (!s) s = sa_lr_type_parse(cli_str(a, "schedule"), &o->sched.type, &err);
    o->sched.lr = (float)cli_float(a, "lr");
    o->sched.lr_final = cli_is_set(a, "lr-final") ? (float)cli_float(a, "lr-final")
                        : o->sched.type == SA_LR_CONSTANT ? o->sched.lr
                                                          : o->sched.lr / 10.0f;
    o->sched.warmup = cli_int(a, "warmup");
    o->adamw.weight_decay = (float)cli_float(a, "weight-decay");
    o->adamw.beta2 = (float)cli_float(a, "beta2");
    o->clip = (float)cli_float(a, "clip");
    o->eval_every = cli_int(a, "eval-every");
    o->save_every = cli_int(a, "save-every");
    o->log_every = cli_int(a, "log-every");
    o->export_gguf = cli_flag(a, "gguf");
    const char *dts = cli_str(a, "export-dtype");
    o->export_dtype = strcasecmp(dts, "f32") == 0 ? SA_DTYPE_F32 : strcasecmp(dts, "f16") == 0 ? SA_DTYPE_F16
                      : strcasecmp(dts, "bf16") == 0 ? SA_DTYPE_BF16 : SA_DTYPE_INVALID;
    if (!s && o->export_dtype == SA_DTYPE_INVALID)
        s = sa_err_set(&err, SA_ERR_INVALID_ARG, "--export-dtype must be f32, f16 or bf16, not '%s'", dts);
    if (s) {
        cli_error("%s: %s", cmd, err.msg);
        return false;
    }
    return true;
}
