;; strcmp's loop: the two byte locals are dead at the loop header, so its
;; pause path copies a live local of the same type into them before the
;; frame is saved.
(module
  (memory 1)
  (func (export "entry") (param $p i32) (param $q i32) (result i32) (local $a i32) (local $b i32)
    (block $done
      (loop $next
        (local.set $a (i32.load8_u (local.get $p)))
        (local.set $b (i32.load8_u (local.get $q)))
        (br_if $done (i32.eqz (local.get $a)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br_if $next (i32.eq (local.get $a) (local.get $b)))))
    (i32.sub (local.get $a) (local.get $b))))
