;; The seed's example: a counting loop calling an import.
(module
  (import "env" "print" (func $print (param i32)))
  (memory 1)
  (func (export "entry") (local $i i32)
    (loop $l
      (call $print (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_s (local.get $i) (i32.const 1000))))))
