;; A loop that stores constants (sieve's `composite[j] = 1`) beside a guest
;; global: the instrumenter pins the stored constants at the function's entry
;; (instrument/pin.rs) with globals of its own, not exported as the guest's.
(module
  (memory 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "mark") (param $step i32)
    (local $j i32)
    (loop $l
      (i32.store8 (local.get $j) (i32.const 1))
      (i64.store offset=256 (local.get $j) (i64.const -1))
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (local.set $j (i32.add (local.get $j) (local.get $step)))
      (br_if $l (i32.lt_u (local.get $j) (i32.const 200))))))
