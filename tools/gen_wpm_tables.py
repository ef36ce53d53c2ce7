#!/usr/bin/env python3
"""gen_wpm_tables.py — regenerate the BERT normaliser tables in
src/tokenizer/wpm.c (lowercasing, accent stripping, character classes) from
Python's unicodedata. Prints C to stdout; paste it over the generated block
in wpm.c. Run: python3 tools/gen_wpm_tables.py > /tmp/wpm_tables.c
"""
import unicodedata as u, sys
print('unidata', u.unidata_version, file=sys.stderr)
def cat(cp): return u.category(chr(cp))
def strip(c):
    d=u.normalize('NFD',c); return ''.join(x for x in d if u.category(x)!='Mn')
def ranges(pred):
    r=[];s=None
    for cp in range(0x110001):
        p = cp<=0x10FFFF and not(0xD800<=cp<0xE000) and pred(cp)
        if p and s is None: s=cp
        if not p and s is not None: r.append((s,cp-1)); s=None
    return r
def emit(name,ctype,rows,comment):
    out=['/* %s */'%comment,'static const %s %s[][%d] = {'%(ctype,name,len(rows[0]))]
    line='   '
    for row in rows:
        item=' {'+','.join(('0x%X'%v if v>=0 else '%d'%v) if i!=len(row)-1 or name!='k_lower' else '%d'%v for i,v in enumerate(row))+'},'
        if len(line)+len(item)>99: out.append(line); line='   '
        line+=item
    out.append(line); out.append('};\n')
    return '\n'.join(out)
cjkc=lambda cp: 0xF900<=cp<=0xFAFF or 0x2F800<=cp<=0x2FA1F
single=[];multi=[]
for cp in range(0x110000):
    if 0xD800<=cp<0xE000 or 0xAC00<=cp<=0xD7A3 or cjkc(cp): continue
    c=chr(cp)
    if u.category(c) in('Cn','Cs','Co','Mn'): continue
    s=strip(c).lower()
    if s==c.lower(): continue
    if len(s)==1: single.append((cp,ord(s)))
    else: multi.append((cp,[ord(x) for x in s]))
runs=[]
for cp,t in single:
    if runs:
        a,b,t0,st=runs[-1]
        if cp==b+1 and t==t0 and st==0: runs[-1]=(a,cp,t0,0); continue
        if cp==b+1 and b==a and t==t0+1: runs[-1]=(a,cp,t0,1); continue
        if cp==b+1 and st==1 and t==t0+(cp-a): runs[-1]=(a,cp,t0,1); continue
    runs.append((cp,cp,t,0))
low=[]
for cp in range(0x110000):
    if 0xD800<=cp<0xE000: continue
    c=chr(cp); l=c.lower()
    if l!=c and len(l)==1: low.append((cp,ord(l)-cp))
lr=[]
for cp,d in low:
    if lr:
        a,b,dd,st=lr[-1]
        if d==dd and ((a==b and cp-b in (1,2)) or (a!=b and cp-b==st)):
            lr[-1]=(a,cp,dd,cp-b); continue
    lr.append((cp,cp,d,1))
mn=ranges(lambda cp: cat(cp)=='Mn'); p=ranges(lambda cp: cat(cp)[0]=='P')
ctl=ranges(lambda cp: cat(cp) in ('Cc','Cf','Co') and cp not in (9,10,13) and not chr(cp).isspace())
o=[]
o.append(emit('k_mn','uint32_t',mn,'nonspacing marks (Mn): dropped when stripping accents'))
o.append(emit('k_punct','uint32_t',p,'punctuation (P*): split off as one-character words'))
o.append(emit('k_ctl','uint32_t',ctl,'other (Cc, Cf, Co) that is not whitespace: removed by clean_text'))
o.append(emit('k_lower','int32_t',[list(x) for x in lr],'{first, last, delta, stride}: every stride-th cp from first to last lowercases to cp + delta'))
o.append(emit('k_fold','uint32_t',[list(x) for x in runs],'{first, last, base, step}: lowercase(NFD(cp) without marks) = base + step * (cp - first)'))
o.append(emit('k_fold_multi','uint32_t',[[cp]+t+[0]*(3-len(t)) for cp,t in multi],'folds to two or three characters (Indic split vowels, musical symbols)'))
open('tables.inc','w').write('\n'.join(o))
