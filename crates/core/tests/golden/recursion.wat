;; Guest calls that can pause: a recursive function with a loop (call
;; sites, depth counting, fast copies of the body and the loop).
(module
  (func $fib (param $n i32) (result i32) (local $acc i32)
    (if (i32.ge_u (local.get $n) (i32.const 2))
      (then
        (loop $l
          (local.set $acc
            (i32.add (local.get $acc) (call $fib (i32.sub (local.get $n) (i32.const 1)))))
          (local.set $n (i32.sub (local.get $n) (i32.const 2)))
          (br_if $l (i32.gt_u (local.get $n) (i32.const 1))))))
    (i32.add (local.get $n) (local.get $acc)))
  (func (export "entry") (result i32) (call $fib (i32.const 20))))
