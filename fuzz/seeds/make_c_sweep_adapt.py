"""Writes seeds/c_sweep/adapt_finished_arms: a call stream for fuzz_targets/c_sweep.rs (it
mirrors that target's decoding) in which five arms are observed at six points each and finish,
a sixth is live, and the sweep adapts to its finished arms (no hold-out, then 16%) around a
decision with a save and reload: random streams rarely finish five arms, so without this seed
the fuzzer mostly reaches adapt's refusal. Run from fuzz/: python3 seeds/make_c_sweep_adapt.py"""
out = bytearray()
def u8(v): out.append(v)
def f64_small(v):  # sel 2: u8/255*4
    u8(2); u8(v)
def u64(v): out.extend(v.to_bytes(8, "big"))
# options
u8(0)        # metric bounded
u8(0)        # direction maximize
u8(0)        # policy keep top k
u8(3)        # k
f64_small(0) # fraction
f64_small(0) # threshold
f64_small(0) # budget
u8(0)        # end_step 0 (none)
u8(0)        # min_observations
u8(10)       # samples
u64(7)       # seed
u8(0)        # calibrate off
calls = []
arms = [0, 1, 2, 3, 5]  # arm-4 shares arm-0's step counter: leave it out
for a in arms:
    for k in range(6):
        calls.append(("observe", a, 30, 10 + 5 * k + 2 * a))  # step += 30*10-200 = 100
for a in arms:
    calls.append(("finish", a))
for k in range(3):
    calls.append(("observe", 4, 30, 20 + 5 * k))
calls.append(("adapt", 0, 0))
calls.append(("decide",))
calls.append(("adapt", 40, 1))
u8(len(calls))
for c in calls:
    if c[0] == "observe":
        _, a, inc, v = c
        u8(a); u8(0); u8(inc); f64_small(v); u8(1)   # arm, op 0, step inc, value, no save
    elif c[0] == "finish":
        u8(c[1]); u8(6); u8(1)
    elif c[0] == "adapt":
        u8(0); u8(9); f64_small(c[1]); u8(c[2]); u8(1)
    elif c[0] == "decide":
        u8(0); u8(8); u8(0); u8(0); u8(0)   # arm, op 8, no names, all; save-check byte 0 -> save and reload
open("seeds/c_sweep/adapt_finished_arms", "wb").write(bytes(out))
print(len(out), len(calls))
