;; A value under a call, a multi-value block and an if with a call in one arm.
(module
  (func $f (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "entry") (result i32)
    (i32.const 100)
    (i32.const 5)
    (block (param i32) (result i32 i32)
      (call $f (i32.const 3)))
    (i32.add)
    (i32.add)
    (if (result i32) (i32.const 1)
      (then (call $f (i32.const 1)))
      (else (i32.const 0)))
    (i32.add)))
